// The test VM's scenario, run by /init once memlogd is up (vm/init). It plays the rest of
// LinuxKit's init: onboot actions in order through socketpairs, then the services through FIFOs
// (logexec --mode), among them kmsg and logwrite; waits until everything arrived; makes a
// logbundle (when the build has one); reads the log the way LinuxKit documents, from another
// mount namespace; and sends one report to the host on the second serial port. It judges
// nothing itself: the host (check.mjs) does, so a wrong guest cannot pass itself.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import zlib from 'node:zlib';
import * as S from './scenario.mjs';

const RESULTS = process.env.RESULTS ?? '/dev/ttyS1';
/** How long everything may take to arrive, under software emulation on a loaded host. */
const WAIT_MS = 180_000;
/** Twice the slowest start of kmsg and logwrite seen under emulation on a loaded host (~25 s), with room. */
const STALL_MS = 60_000;
const GETTY_ROOT = '/tmp/getty-root';

const report = { marks: {}, onboot: {}, services: {}, errors: [] };
const uptime = () => Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function mark(name) {
  const up = uptime();
  report.marks[name] = up;
  console.log(`vm-mark ${name} ${up}`);
}

/** Runs a command to its end; resolves with its status and (bounded) output. */
function run(cmd, args, { timeoutMs = 120_000, onStdout } = {}) {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    const kill = (sig) => { try { process.kill(-p.pid, sig); } catch { /* gone */ } };
    p.stdout.on('data', (d) => { stdout += d; onStdout?.(stdout, kill); });
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => kill('SIGKILL'), timeoutMs);
    p.on('error', (err) => { stderr += String(err); });
    p.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The entries of a v2 dump (request: JSON fields besides mode), e.g. to see their severities. */
function v2dump(req) {
  return new Promise((resolve, reject) => {
    const c = net.createConnection(S.QUERY_SOCKET, () => c.write(JSON.stringify({ mode: 'dump', ...req }) + '\n'));
    const chunks = [];
    c.on('data', (d) => chunks.push(d));
    c.on('error', reject);
    c.on('end', () => {
      const recs = Buffer.concat(chunks).toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
      resolve(recs.filter((x) => x.type === undefined));
    });
  });
}

/** memlogd's whole store through the v1 query socket (mode 0: dump, then memlogd closes). */
function dump() {
  return new Promise((resolve, reject) => {
    const c = net.createConnection(S.QUERY_SOCKET, () => c.write(Buffer.from([0])));
    const chunks = [];
    c.on('data', (d) => chunks.push(d));
    c.on('error', reject);
    c.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      resolve(text.split('\n').filter(Boolean).map((l) => JSON.parse(l)));
    });
  });
}

const logexec = (mode, name, argv) =>
  ['--mode', mode, '--fifo-dir', S.FIFO_DIR, '-n', name, '-socket', S.LOG_SOCKET, '--', ...argv];

/** A service as LinuxKit init starts one: output handed over through FIFOs, left running. */
function startService(name, argv) {
  // logexec echoes too; LinuxKit init sends a service's output nowhere else, so neither do we.
  const p = spawn('/usr/bin/logexec', logexec('fifo', name, argv), { stdio: 'ignore' });
  report.services[name] = { started: uptime() };
  p.on('exit', (code, signal) => Object.assign(report.services[name], { code, signal, exited: uptime() }));
}

function logFiles() {
  const files = {};
  for (const f of fs.readdirSync(S.LOG_DIR).sort()) {
    const st = fs.statSync(`${S.LOG_DIR}/${f}`);
    if (st.isFile()) files[f] = { size: st.size, text: fs.readFileSync(`${S.LOG_DIR}/${f}`, 'utf8') };
  }
  return files;
}

/** True once memlogd and logwrite's files hold every line the scenario writes, and the boot. */
function arrived(entries) {
  const count = new Map();
  for (const e of entries) count.set(e.source, (count.get(e.source) ?? 0) + 1);
  for (const [source, lines] of S.expectedSources()) {
    if ((count.get(source) ?? 0) < lines.length) return false;
    let file = '';
    try {
      file = fs.readFileSync(`${S.LOG_DIR}/${source}.log`, 'utf8');
    } catch {
      return false;
    }
    if (!file.includes(lines.at(-1))) return false;
  }
  const last = S.KERNEL_LINES.at(-1);
  if (!entries.some((e) => e.source === S.KMSG_SERVICE && e.msg.includes(last))) return false;
  const kmsgFiles = fs.readdirSync(S.LOG_DIR).filter((f) => f.startsWith(`${S.KMSG_SERVICE}.log`));
  return kmsgFiles.some((f) => fs.readFileSync(`${S.LOG_DIR}/${f}`, 'utf8').includes(last));
}

/**
 * `/proc/1/root/usr/bin/logread -F` as a getty would run it: in its own mount namespace and
 * root, where neither node nor its libraries exist. Stopped once it has printed `until`.
 */
async function gettyLogread(until) {
  fs.mkdirSync(`${GETTY_ROOT}/bin`, { recursive: true });
  for (const d of ['proc', 'run', 'tmp', 'var']) fs.mkdirSync(`${GETTY_ROOT}/${d}`, { recursive: true });
  fs.copyFileSync('/bin/busybox', `${GETTY_ROOT}/bin/busybox`);
  fs.chmodSync(`${GETTY_ROOT}/bin/busybox`, 0o755);
  for (const applet of ['sh', 'mount', 'test']) fs.symlinkSync('busybox', `${GETTY_ROOT}/bin/${applet}`);
  fs.symlinkSync('../run', `${GETTY_ROOT}/var/run`);
  // getty's image binds /run, so the query socket is there; the rest of the root is not ours.
  const inner = 'PATH=/bin; mount -t proc proc /proc && ! test -e /usr/lib/memlogd && ! test -e /usr/bin/node && ' +
    'exec /proc/1/root/usr/bin/logread -F';
  const outer = `mount --bind /run ${GETTY_ROOT}/run && exec chroot ${GETTY_ROOT} /bin/sh -c '${inner}'`;
  let seen = false;
  const r = await run('unshare', ['-m', '/bin/sh', '-c', outer], {
    timeoutMs: 45_000,
    onStdout: (out, kill) => {
      if (!seen && out.includes(until)) {
        seen = true;
        kill('SIGTERM');
      }
    },
  });
  return { ...r, sawLastLine: seen };
}

async function main() {
  mark('guest-start');
  report.kernel = os.release();
  report.node = process.version;
  report.cmdline = fs.readFileSync('/proc/cmdline', 'utf8').trim();

  for (const c of S.ONBOOT) {
    const r = await run('/usr/bin/logexec', logexec('socketpair', `onboot.${c.name}`, ['sh', '-c', S.demoCommand(c, false)]));
    report.onboot[c.name] = { code: r.code, signal: r.signal };
  }
  mark('onboot-done');

  startService(S.KMSG_SERVICE, ['/usr/bin/kmsg']);
  startService(S.LOGWRITE_SERVICE, ['/usr/bin/logwrite', '-socket', S.QUERY_SOCKET, '-log-dir', S.LOG_DIR,
    '-max-log-size', String(S.LOGWRITE_MAX_SIZE), '-max-log-files', String(S.LOGWRITE_MAX_FILES)]);
  for (const c of S.SERVICES) startService(c.name, ['sh', '-c', S.demoCommand(c, true)]);
  mark('services-started');
  // a program that logs with syslog: busybox logger, to /dev/log
  const lg = await run('logger', ['-t', S.SYSLOG_TAG, '-p', 'daemon.err', S.SYSLOG_LINE]);
  report.logger = { code: lg.code, signal: lg.signal, stderr: lg.stderr.slice(-2000) };

  // Until everything is in, WAIT_MS at most, or STALL_MS without a single new entry (a hand-off
  // that never happened must fail in reasonable time, not after the full wait).
  const deadline = Date.now() + WAIT_MS;
  let ok = false;
  let seen = -1;
  let lastChange = Date.now();
  for (;;) {
    const entries = await dump().catch(() => []);
    if ((ok = arrived(entries)) || Date.now() > deadline || Date.now() - lastChange > STALL_MS) break;
    if (entries.length !== seen) [seen, lastChange] = [entries.length, Date.now()];
    await sleep(250);
  }
  report.waitTimedOut = !ok;
  mark('arrived');

  if (fs.existsSync('/usr/bin/logbundle')) {
    const out = '/tmp/vm-bundle.tar.gz';
    const r = await run('/usr/bin/logbundle', ['-o', out, '-socket', S.QUERY_SOCKET, '--log-dir', S.LOG_DIR]);
    report.bundle = { code: r.code, signal: r.signal, stdout: r.stdout, stderr: r.stderr.slice(-4000) };
    if (fs.existsSync(out)) report.bundle.archive = fs.readFileSync(out).toString('base64');
    if (fs.existsSync(`${out}.sha256`)) report.bundle.sha256 = fs.readFileSync(`${out}.sha256`, 'utf8');
    mark('bundle-done');
  }

  const entries = await dump();
  const lastLine = S.expectedSources().get(`${S.SERVICES.at(-1).name}.out`).at(-1);
  const g = await gettyLogread(lastLine);
  report.getty = { code: g.code, signal: g.signal, sawLastLine: g.sawLastLine, stderr: g.stderr.slice(-4000),
    lines: g.stdout.split('\n').filter((l) => l && !l.includes(';kmsg;')) };
  mark('getty-done');

  report.dump = await dump().catch(() => entries);
  // severities as v2 carries them: the syslog message's, and the kernel's through kmsg's <N>
  report.severities = await v2dump({ sources: ['syslog.*', S.KMSG_SERVICE] })
    .then((es) => es.map((e) => ({ source: e.source, severity: e.severity, facility: e.facility, msg: e.msg.slice(0, 200) })))
    .catch((err) => String(err));
  report.logs = logFiles();
  // Wall time of the kernel's start, to turn memlogd's receive times into seconds since boot.
  report.bootWall = Date.now() / 1000 - uptime();
}

let rc = 0;
try {
  await main();
} catch (err) {
  report.errors.push(String(err?.stack ?? err));
  rc = 1;
}
mark('report');
const blob = zlib.gzipSync(JSON.stringify(report)).toString('base64');
fs.writeFileSync(RESULTS, `vm-report ${blob}\n`);
process.exit(rc);
