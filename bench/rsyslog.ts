// A real rsyslogd for the tests and the bench: a config written for the run, started in the
// foreground on 127.0.0.x ephemeral ports, ready once every listener is in /proc, and what it
// wrote read back from files. Facts behind the choices (Debian 12, rsyslog 8.2302, librelp 1.11):
// - `processInternalMessages="on"`: there is no /dev/log here, rsyslogd's own messages would vanish.
// - `main_queue(queue.type="Direct")` and Direct rulesets: a message is written by the thread that
//   received it, so RELP's `200 OK` goes out only after the file write.
// - config errors and listeners that cannot bind do not stop rsyslogd: `-N1` checks the config
//   first, and stderr is watched for bind errors.
// - port 0 works for imudp and imrelp, and for imtcp with a listenPortFileName (without one it
//   binds 514); every input gets its own loopback address, and its port is read from /proc.
// - imtcp TLS with `gtls`; imrelp TLS with `tls.tlslib="openssl"` (librelp's GnuTLS backend
//   accepts client certificates from any CA in certvalid mode).
// - rsyslogd chdir()s to /: every path is absolute. `setpriv --pdeathsig SIGTERM` ends it when
//   the process that started it dies, however it dies.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export type InputName = 'udp' | 'tcp' | 'tls' | 'relp' | 'relpTls';
export const INPUTS: InputName[] = ['udp', 'tcp', 'tls', 'relp', 'relpTls'];
/** Each input on its own loopback address, so /proc tells them apart (the test certificate has these IPs). */
export const INPUT_ADDRESS: Record<InputName, string> = {
  udp: '127.0.0.1', tcp: '127.0.0.1', tls: '127.0.0.4', relp: '127.0.0.2', relpTls: '127.0.0.3',
};

/**
 * What each received message becomes, one line in `<input>.log`:
 * - json: its fields (pri, version, timestamp, hostname, appname, procid, msgid, sd, msg, input);
 * - compact: `<app-name> TAB <structured-data> TAB <msg>` (small files for big runs).
 */
export type OutputTemplate = 'json' | 'compact';

export interface RsyslogOptions extends Partial<Record<InputName, number>> {
  /** Absolute work directory: config, outputs, spool. */
  dir: string;
  /** Directory of makeCerts(); needed for tls and relpTls. */
  certs?: string;
  /** imtcp TLS: which client certificates are accepted. */
  tlsAuthMode?: 'anon' | 'x509/certvalid' | 'x509/name';
  /** imrelp TLS: anon (no client certificate), certvalid, name. */
  relpAuthMode?: 'anon' | 'certvalid' | 'name';
  /** Base name (in certs) of the server's certificate and key. */
  serverCert?: string;
  template?: OutputTemplate;
  /** rsyslog's maxMessageSize (also imrelp's maxDataSize). */
  maxMessageSize?: string;
}

const q = (s: string) => JSON.stringify(s);

const TEMPLATES = `template(name="json" type="list" option.jsonf="on") {
  property(outname="pri" name="pri" format="jsonf")
  property(outname="version" name="protocol-version" format="jsonf")
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="appname" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
  property(outname="input" name="inputname" format="jsonf")
}
template(name="compact" type="string" string="%app-name%\\t%structured-data%\\t%msg%\\n")
`;

/** The rsyslog.conf of a test server. */
export function rsyslogConf(o: RsyslogOptions): string {
  const dir = path.resolve(o.dir);
  const f = (n: string) => q(path.join(dir, n));
  const size = o.maxMessageSize ?? '256k';
  const tpl = o.template ?? 'json';
  const has = (k: InputName) => o[k] !== undefined && o[k] !== null;
  const cert = (n: string) => q(path.join(path.resolve(o.certs ?? '.'), n));
  const server = o.serverCert ?? 'server';
  const sink = (name: string) => `ruleset(name=${q(name)} queue.type="Direct") {
  action(type="omfile" file=${f(`${name}.log`)} template=${q(tpl)} queue.type="Direct" flushOnTXEnd="on")
}
`;
  const out: string[] = [`global(
  workDirectory=${f('spool')}
  net.enableDNS="off"
  maxMessageSize=${q(size)}
  parser.escapeControlCharactersOnReceive="off"
  preserveFQDN="on"
  processInternalMessages="on"
)
main_queue(queue.type="Direct")
${TEMPLATES}
action(type="omfile" file=${f('internal.log')} template="RSYSLOG_FileFormat")
`];
  if (has('udp')) out.push(`module(load="imudp")\n${sink('udp')}input(type="imudp" address="${INPUT_ADDRESS.udp}" port="${o.udp}" ruleset="udp" rcvBufSize="16m")\n`);
  if (has('tcp') || has('tls')) {
    out.push('module(load="imtcp" maxSessions="200")\n');
    if (has('tcp')) out.push(`${sink('tcp')}input(type="imtcp" address="${INPUT_ADDRESS.tcp}" port="${o.tcp}" listenPortFileName=${f('tcp.port')} ruleset="tcp")\n`);
    if (has('tls')) {
      const am = o.tlsAuthMode ?? 'anon';
      out.push(`${sink('tls')}input(type="imtcp" address="${INPUT_ADDRESS.tls}" port="${o.tls}" listenPortFileName=${f('tls.port')} ruleset="tls"
  streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode=${q(am)}${am === 'x509/name' ? ' permittedPeer=["client.test"]' : ''}
  streamDriver.CAFile=${cert('ca.pem')} streamDriver.CertFile=${cert(`${server}.pem`)} streamDriver.KeyFile=${cert(`${server}-key.pem`)})
`);
    }
  }
  if (has('relp') || has('relpTls')) {
    out.push(`module(load="imrelp"${has('relpTls') ? ' tls.tlslib="openssl"' : ''})\n`);
    if (has('relp')) out.push(`${sink('relp')}input(type="imrelp" address="${INPUT_ADDRESS.relp}" port="${o.relp}" ruleset="relp" maxDataSize=${q(size)})\n`);
    if (has('relpTls')) {
      const am = o.relpAuthMode ?? 'anon';
      const auth = am === 'anon' ? '' : ` tls.authMode=${q(am)}${am === 'name' ? ' tls.permittedPeer=["client.test"]' : ''}`;
      out.push(`${sink('relpTls')}input(type="imrelp" address="${INPUT_ADDRESS.relpTls}" port="${o.relpTls}" ruleset="relpTls" maxDataSize=${q(size)}
  tls="on"${auth} tls.caCert=${cert('ca.pem')} tls.myCert=${cert(`${server}.pem`)} tls.myPrivKey=${cert(`${server}-key.pem`)})
`);
    }
  }
  return out.join('\n');
}

/** Where the Debian packages put rsyslog's modules. */
const MODULE_DIRS = ['/usr/lib/x86_64-linux-gnu/rsyslog', '/usr/lib/aarch64-linux-gnu/rsyslog', '/usr/lib/rsyslog'];

/** Is rsyslogd installed with the modules the tests use (imrelp from rsyslog-relp, lmnsd_gtls from rsyslog-gnutls)? */
export function rsyslogInstalled(): boolean {
  if (spawnSync('rsyslogd', ['-v'], { stdio: 'ignore' }).status !== 0) return false;
  const dir = MODULE_DIRS.find((d) => fs.existsSync(path.join(d, 'imtcp.so')));
  return dir !== undefined && ['imrelp.so', 'lmnsd_gtls.so', 'imudp.so'].every((m) => fs.existsSync(path.join(dir, m)));
}

export interface ListeningSocket {
  proto: 'tcp' | 'udp';
  addr: string;
  port: number;
}

/** The sockets a process listens on (TCP) or is bound to (UDP), from /proc (IPv4). */
export function listeningSockets(pid: number): ListeningSocket[] {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch { /* closed meanwhile */ }
  }
  const out: ListeningSocket[] = [];
  // st 0A: TCP_LISTEN; 07: TCP_CLOSE, which is how a bound UDP socket shows
  for (const [proto, state] of [['tcp', '0A'], ['udp', '07']] as const) {
    let text = '';
    try {
      text = fs.readFileSync(`/proc/${pid}/net/${proto}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length < 10 || c[3] !== state || !inodes.has(c[9])) continue;
      const [hex, port] = c[1].split(':');
      const addr = [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
      out.push({ proto, addr, port: parseInt(port, 16) });
    }
  }
  return out;
}

export interface RunningServer {
  pid: number;
  dir: string;
  ports: Partial<Record<InputName, number>>;
  /** What it wrote to stdout/stderr. */
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends signal (SIGTERM), waits for the exit (SIGKILL after waitMs). */
  stop: (signal?: NodeJS.Signals, waitMs?: number) => Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGSTOP, and waits until every thread is stopped (kill() returns before that). */
  freeze: () => Promise<void>;
  thaw: () => void;
}

export interface RunningRsyslog extends RunningServer {
  /** rsyslogd's own messages (internal.log). */
  internal: () => string;
  /** The lines an input wrote so far (its `<input>.log`). */
  lines: (input: InputName) => string[];
  /** How many lines an input wrote so far (read incrementally: cheap to poll). */
  count: (input: InputName) => number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Spawns a server under `setpriv --pdeathsig SIGTERM` and waits until it listens on every wanted
 * input (its address, protocol and port; 0: any, null: not known yet). Shared by rsyslog and syslog-ng.
 */
export async function spawnServer(bin: string, args: string[], env: NodeJS.ProcessEnv | undefined, dir: string,
  wanted: Array<{ input: InputName; addr: string; proto: 'tcp' | 'udp'; port: () => number | null }>,
  bindError: RegExp, timeoutMs: number): Promise<RunningServer> {
  const child: ChildProcess = spawn('setpriv', ['--pdeathsig', 'SIGTERM', bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  let done: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => {
    done = { code, signal };
    process.off('exit', killOnExit);
    resolve(done);
  }));
  const ports: Partial<Record<InputName, number>> = {};
  const t0 = Date.now();
  for (;;) {
    if (done) throw new Error(`${bin} exited ${JSON.stringify(done)} before it was ready:\n${output}`);
    if (bindError.test(output)) {
      child.kill('SIGKILL');
      throw new Error(`${bin} could not bind a listener:\n${output}`);
    }
    if (Date.now() - t0 > timeoutMs) {
      child.kill('SIGKILL');
      throw new Error(`${bin} not ready after ${timeoutMs} ms (listening: ${JSON.stringify(ports)}):\n${output}`);
    }
    let socks: ListeningSocket[] = [];
    try {
      socks = listeningSockets(child.pid!);
    } catch { /* not started yet */ }
    for (const w of wanted) {
      if (ports[w.input]) continue;
      const port = w.port();
      if (port === null) continue;
      const s = socks.find((x) => x.proto === w.proto && x.addr === w.addr && (port === 0 || x.port === port));
      if (s) ports[w.input] = s.port;
    }
    if (wanted.every((w) => ports[w.input])) break;
    await sleep(10);
  }
  const pid = child.pid!;
  return {
    pid, dir, ports, exited,
    output: () => output,
    stop: async (signal: NodeJS.Signals = 'SIGTERM', waitMs = 10_000) => {
      if (done) return done;
      process.kill(pid, 'SIGCONT'); // a frozen server would not see SIGTERM
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), waitMs);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
    freeze: async () => {
      process.kill(pid, 'SIGSTOP');
      const deadline = Date.now() + 5000;
      for (;;) {
        const states = fs.readdirSync(`/proc/${pid}/task`).map((t) => {
          try {
            return fs.readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8').replace(/^.*\) /, '')[0];
          } catch {
            return 'T';
          }
        });
        if (states.every((s) => s === 'T' || s === 't')) return;
        if (Date.now() > deadline) throw new Error(`${bin} not stopped: ${states.join('')}`);
        await sleep(2);
      }
    },
    thaw: () => process.kill(pid, 'SIGCONT'),
  };
}

/** Starts rsyslogd with a config for o; o[input] = 0 picks a free port. Restart on the same ports: startRsyslog({ ...o, ...server.ports }). */
export async function startRsyslog(o: RsyslogOptions, timeoutMs = 15_000): Promise<RunningRsyslog> {
  const dir = path.resolve(o.dir);
  for (const f of ['tcp.port', 'tls.port']) fs.rmSync(path.join(dir, f), { force: true }); // left by an earlier run
  const wanted = INPUTS.filter((k) => o[k] !== undefined && o[k] !== null).map((input) => ({
    input, addr: INPUT_ADDRESS[input], proto: input === 'udp' ? 'udp' as const : 'tcp' as const,
    // imtcp takes port 0 only with a port file (without one it binds 514), written right after listen()
    port: (input === 'tcp' || input === 'tls') && o[input] === 0 ? () => portFile(path.join(dir, `${input}.port`)) : () => o[input]!,
  }));
  const s = await runRsyslog(rsyslogConf({ ...o, dir }), dir, wanted, timeoutMs);
  return {
    ...s,
    lines: (input) => readText(path.join(dir, `${input}.log`)).split('\n').slice(0, -1),
    count: lineCounter((input) => path.join(dir, `${input}.log`)),
  };
}

/** Runs rsyslogd with this config text (written to dir/rsyslog.conf, checked with -N1 first) until it listens on every wanted input. */
export async function runRsyslog(conf: string, dir: string, wanted: Parameters<typeof spawnServer>[4], timeoutMs = 15_000):
  Promise<RunningServer & { internal: () => string }> {
  fs.mkdirSync(path.join(dir, 'spool'), { recursive: true });
  const file = path.join(dir, 'rsyslog.conf');
  fs.writeFileSync(file, conf);
  const check = spawnSync('rsyslogd', ['-N1', '-f', file], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`rsyslogd -N1 rejected ${file}:\n${check.stderr}${check.stdout}`);
  const s = await spawnServer('rsyslogd', ['-n', '-f', file, '-i', path.join(dir, 'rsyslogd.pid')], undefined, dir, wanted,
    /Address already in use|error while binding|Could not create (tcp|udp) listener|could not activate/i, timeoutMs);
  return { ...s, internal: () => readText(path.join(dir, 'internal.log')) };
}

/** Counts the lines of growing files, reading only what was added since the last call. */
export function lineCounter<K extends string>(fileOf: (k: K) => string): (k: K) => number {
  const seen = new Map<K, { offset: number; lines: number }>();
  const buf = Buffer.alloc(1 << 20);
  return (k) => {
    const c = seen.get(k) ?? { offset: 0, lines: 0 };
    seen.set(k, c);
    let fd: number;
    try {
      fd = fs.openSync(fileOf(k), 'r');
    } catch {
      return c.lines;
    }
    try {
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, c.offset);
        if (n === 0) break;
        c.offset += n;
        for (let i = buf.indexOf(10); i >= 0 && i < n; i = buf.indexOf(10, i + 1)) c.lines++;
      }
    } finally {
      fs.closeSync(fd);
    }
    return c.lines;
  };
}

/** The port an imtcp input wrote to its listenPortFileName; null until it is there. */
function portFile(file: string): number | null {
  const t = readText(file);
  return /^\d+$/.test(t) ? Number(t) : null;
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * A throw-away PKI (ECDSA P-256, valid 10 years) made with openssl: `ca`, `server` (CN=localhost,
 * SAN localhost and 127.0.0.1-4), `client` (CN=client.test), `other-ca` (an unrelated CA), and
 * `rogue` (CN=client.test signed by other-ca). Files: `<name>.pem`, `<name>-key.pem`.
 */
export function makeCerts(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const run = (args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const key = (name: string) => run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}-key.pem`]);
  const ca = (name: string, cn: string) => {
    key(name);
    run(['req', '-x509', '-new', '-key', `${name}-key.pem`, '-sha256', '-days', '3650', '-subj', `/CN=${cn}`, '-out', `${name}.pem`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  };
  const leaf = (name: string, cn: string, san: string, eku: string, signer: string) => {
    key(name);
    run(['req', '-new', '-key', `${name}-key.pem`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`]);
    fs.writeFileSync(path.join(dir, `${name}.ext`),
      `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=${eku}\nsubjectAltName=${san}\n`);
    run(['x509', '-req', '-in', `${name}.csr`, '-CA', `${signer}.pem`, '-CAkey', `${signer}-key.pem`, '-CAcreateserial', '-days', '3650',
      '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
    fs.rmSync(path.join(dir, `${name}.csr`));
    fs.rmSync(path.join(dir, `${name}.ext`));
  };
  ca('ca', 'memlogd test CA');
  ca('other-ca', 'some other CA');
  leaf('server', 'localhost', 'DNS:localhost,IP:127.0.0.1,IP:127.0.0.2,IP:127.0.0.3,IP:127.0.0.4', 'serverAuth,clientAuth', 'ca');
  leaf('client', 'client.test', 'DNS:client.test', 'clientAuth', 'ca');
  leaf('rogue', 'client.test', 'DNS:client.test', 'clientAuth', 'other-ca');
  for (const f of fs.readdirSync(dir)) if (f.endsWith('.srl')) fs.rmSync(path.join(dir, f));
  for (const f of fs.readdirSync(dir)) if (f.endsWith('-key.pem')) fs.chmodSync(path.join(dir, f), 0o600);
}
