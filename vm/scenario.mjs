// What the test VM does and what the host expects of it, in one place: the guest (guest.mjs)
// runs it, the host (check.mjs) checks the report against it. Plain data and pure functions.

export const LOG_SOCKET = '/var/run/linuxkit-external-logging.sock';
export const QUERY_SOCKET = '/var/run/memlogdq.sock';
export const LOG_DIR = '/var/log';
/** Where LinuxKit init makes its FIFOs (remoteLog.fifoDir). */
export const FIFO_DIR = '/var/run';

/**
 * Demo containers. Each prints `out` numbered lines on stdout and `err` on stderr, interleaved,
 * then (services) stays up as a LinuxKit service does. Onboot actions run in order, each to its
 * end, through socketpairs; services run together, through FIFOs, as LinuxKit init runs them.
 */
export const ONBOOT = [
  { name: 'sysctl', out: 6, err: 2 },
  { name: 'format', out: 3, err: 4 },
];
export const SERVICES = [
  // Noisy: enough bytes that logwrite rotates its file several times at LOGWRITE_MAX_SIZE.
  { name: 'write-to-the-logs', out: 600, err: 5, pad: 40 },
  { name: 'web', out: 12, err: 7 },
];

/** logwrite's settings in the VM: small files so that rotation happens within seconds. */
export const LOGWRITE_MAX_SIZE = 16384;
export const LOGWRITE_MAX_FILES = 10;
/** memlogd's syslog socket (pkg/memlogd's 002-logging), and what busybox logger sends to it. */
export const SYSLOG_SOCKET = '/dev/log';
export const SYSLOG_TAG = 'vm-syslog';
export const SYSLOG_LINE = 'hello from busybox logger through /dev/log';

/** The service names LinuxKit's examples give kmsg and logwrite. */
export const KMSG_SERVICE = 'kmsg';
export const LOGWRITE_SERVICE = 'write-and-rotate-logs';

/**
 * Kernel lines Debian's kernel prints on every boot of this VM (found in its console log). LinuxKit's
 * own kmsg test looks for "SCSI subsystem initialized", but SCSI is a module in Debian's kernel
 * and this VM loads none, so that line never comes here.
 */
export const KERNEL_LINES = [
  'Linux version ',
  'Command line: ',
  'devtmpfs: initialized',
  'NET: Registered PF_UNIX/PF_LOCAL protocol family',
  'Serial: 8250/16550 driver',
  'Run /init as init process',
];

/** The i-th line (1-based) a demo container writes on a stream. */
export function demoLine(name, stream, i, n, pad = 0) {
  return `${name} ${stream} line ${i}/${n}${pad ? ' ' + '.'.repeat(pad) : ''}`;
}

/** The shell command of a demo container (busybox sh). */
export function demoCommand(c, stayUp) {
  const n = Math.max(c.out, c.err);
  const out = demoLine(c.name, 'stdout', '$i', c.out, c.pad);
  const err = demoLine(c.name, 'stderr', '$i', c.err, c.pad);
  return [
    'i=1',
    `while [ $i -le ${n} ]; do`,
    `  [ $i -le ${c.out} ] && echo "${out}"`,
    `  [ $i -le ${c.err} ] && echo "${err}" >&2`,
    '  i=$((i + 1))',
    'done',
    stayUp ? 'exec sleep 100000' : 'exit 0',
  ].join('\n');
}

/** Every source the demo containers log under, with the lines expected in order (LinuxKit's names). */
export function expectedSources() {
  const m = new Map();
  const add = (source, name, stream, n, pad) => m.set(source, Array.from({ length: n }, (_, k) => demoLine(name, stream, k + 1, n, pad)));
  for (const c of ONBOOT) {
    add(`onboot.${c.name}.out`, c.name, 'stdout', c.out, c.pad);
    add(`onboot.${c.name}`, c.name, 'stderr', c.err, c.pad);
  }
  for (const c of SERVICES) {
    add(`${c.name}.out`, c.name, 'stdout', c.out, c.pad);
    add(c.name, c.name, 'stderr', c.err, c.pad);
  }
  return m;
}
