// Host side of `make vm-test`: reads what the VM reported on its second serial port
// (vm/out/results.txt) and checks it against the scenario (scenario.mjs). Prints one line per
// check, the boot timings, and last `vm-test: N passed, N failed`; exits 1 if any check failed,
// after printing the tail of the console.
//
//   node vm/check.mjs [OUT_DIR]      (default vm/out)

import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import * as S from './scenario.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(HERE);
const OUT = path.resolve(process.argv[2] ?? path.join(HERE, 'out'));
const CONSOLE_TAIL = 60;

let passed = 0;
let failed = 0;
function check(ok, what, detail = '') {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${!ok && detail ? `\n       ${detail}` : ''}`);
  return ok;
}

const read = (f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');
const first = (a, b) => {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return `line ${i + 1}: got ${JSON.stringify(a[i])}, expected ${JSON.stringify(b[i])}`;
  return '';
};

function finish() {
  if (failed) {
    console.log(`\n--- last ${CONSOLE_TAIL} lines of the console (${path.join(OUT, 'console.log')}) ---`);
    console.log(read(path.join(OUT, 'console.log')).split('\n').slice(-CONSOLE_TAIL - 1).join('\n'));
    const q = read(path.join(OUT, 'qemu.stderr')).trim();
    if (q) console.log(`--- qemu stderr ---\n${q}`);
  }
  console.log(`vm-test: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

// --- the report --------------------------------------------------------------------------------

const results = read(path.join(OUT, 'results.txt'));
const exit = /^vm-exit (\d+)$/m.exec(results);
const blob = /^vm-report (\S+)$/m.exec(results);
check(exit !== null && blob !== null, 'the VM reported and powered off',
  `results.txt has ${exit ? '' : 'no vm-exit line'} ${blob ? '' : 'no vm-report line'} (${read(path.join(OUT, 'run.env')).trim()})`);
if (!blob) finish();
const r = JSON.parse(zlib.gunzipSync(Buffer.from(blob[1], 'base64')).toString('utf8'));
check(exit?.[1] === '0' && r.errors.length === 0, 'the guest scenario ran to its end', r.errors.join('\n'));
check(!r.waitTimedOut, 'every line arrived within the guest\'s wait', 'see the checks below for what is missing');

// --- hand-offs: every onboot and service line under its LinuxKit name -------------------------

for (const c of S.ONBOOT) check(r.onboot[c.name]?.code === 0, `onboot ${c.name} exited 0`, JSON.stringify(r.onboot[c.name]));

const bySource = new Map();
for (const e of r.dump) {
  if (!bySource.has(e.source)) bySource.set(e.source, []);
  bySource.get(e.source).push(e.msg);
}
const expected = S.expectedSources();
for (const [source, lines] of expected) {
  const got = bySource.get(source) ?? [];
  check(got.length === lines.length && !first(got, lines), `memlogd holds ${source}: ${lines.length} lines in order`,
    `${got.length} lines; ${first(got, lines)}`);
}
const DEMO = /^(\S+) (stdout|stderr) line \d+\/\d+/;
const misplaced = r.dump.filter((e) => {
  const m = DEMO.exec(e.msg);
  if (!m) return false;
  const c = [...S.ONBOOT.map((x) => ({ ...x, onboot: true })), ...S.SERVICES].find((x) => x.name === m[1]);
  const want = `${c?.onboot ? 'onboot.' : ''}${m[1]}${m[2] === 'stdout' ? '.out' : ''}`;
  return e.source !== want;
});
check(misplaced.length === 0, 'no demo line under another source', misplaced.slice(0, 3).map((e) => `${e.source}: ${e.msg}`).join('; '));

// --- kmsg: the boot, exactly once, in memlogd and in logwrite's kmsg.log* ---------------------

const kmsgLines = bySource.get(S.KMSG_SERVICE) ?? [];
// A record as kmsg writes it: "(<seq>) - <time>: <level>: <text>"
const text = (msg) => /^\(\d+\) - \S+: \w+: (.*)$/.exec(msg)?.[1] ?? '';
const logLines = (prefix) => Object.keys(r.logs)
  .filter((f) => f === `${prefix}.log` || f.startsWith(`${prefix}.log.`))
  .flatMap((f) => r.logs[f].text.split('\n').filter(Boolean));
const kmsgFileTexts = logLines(S.KMSG_SERVICE).map((l) => text(l.split(' ').slice(2).join(' ')));
for (const k of S.KERNEL_LINES) {
  const inMemlogd = kmsgLines.filter((m) => text(m).startsWith(k)).length;
  const inFiles = kmsgFileTexts.filter((t) => t.startsWith(k)).length;
  check(inMemlogd === 1 && inFiles === 1, `kernel line "${k.trim()}" once in memlogd (kmsg) and once in kmsg.log*`,
    `${inMemlogd} in memlogd, ${inFiles} in the files`);
}

// --- severities: a syslog(3) program through /dev/log, the kernel's levels through kmsg ---------

const sev = Array.isArray(r.severities) ? r.severities : [];
check(r.logger?.code === 0, 'busybox logger sent to /dev/log (exit 0)', JSON.stringify(r.logger));
const fromLogger = sev.filter((e) => e.source === `syslog.${S.SYSLOG_TAG}`);
check(fromLogger.length === 1 && fromLogger[0].msg === S.SYSLOG_LINE && fromLogger[0].severity === 3 && fromLogger[0].facility === 3,
  `memlogd holds the logger's message as source syslog.${S.SYSLOG_TAG}, daemon.err`, JSON.stringify(fromLogger).slice(0, 800) || String(r.severities));
const banner = sev.filter((e) => e.source === S.KMSG_SERVICE && text(e.msg).startsWith('Linux version '));
check(banner.length === 1 && banner[0].severity === 5 && banner[0].facility === 0,
  'the kernel banner arrives as kern.notice (kmsg\'s <N>, taken off by memlogd)', JSON.stringify(banner).slice(0, 800));

// --- logwrite: files per source, rotated, holding every line once ----------------------------

/** A source's lines from its files, oldest first: <source>.log.<max-1> ... .log.0, then .log. */
function fileLines(source) {
  const rotated = Object.keys(r.logs).filter((f) => f.startsWith(`${source}.log.`))
    .sort((a, b) => Number(b.split('.').pop()) - Number(a.split('.').pop()));
  return [...rotated, `${source}.log`].filter((f) => r.logs[f])
    .flatMap((f) => r.logs[f].text.split('\n').filter(Boolean))
    .map((l) => {
      // "<RFC3339 seconds> <source> <msg>"
      const sp1 = l.indexOf(' ');
      return l.slice(sp1 + 1 + source.length + 1);
    });
}
for (const [source, lines] of expected) {
  const got = fileLines(source);
  check(!first(got, lines), `logwrite's ${source}.log* hold its ${lines.length} lines once, in order`, first(got, lines));
}
const noisy = `${S.SERVICES[0].name}.out`;
check(`${noisy}.log.0` in r.logs, `logwrite rotated: ${noisy}.log.0 exists (LinuxKit's logwrite test)`,
  `files: ${Object.keys(r.logs).join(' ')}`);
const big = Object.entries(r.logs).filter(([f, v]) => f !== 'logwrite.state' && v.size > S.LOGWRITE_MAX_SIZE);
check(big.length === 0, `no log file over -max-log-size ${S.LOGWRITE_MAX_SIZE}`, big.map(([f, v]) => `${f} ${v.size}`).join(' '));

// --- logread the documented way ----------------------------------------------------------------

const g = r.getty ?? {};
const gettyLines = new Set((g.lines ?? []).map((l) => {
  // "<time>;<source, ; as \;>;<msg>"
  const m = /^[^;]*;((?:[^;\\]|\\.)*);(.*)$/.exec(l);
  return m ? `${m[1].replace(/\\;/g, ';')}\n${m[2]}` : l;
}));
const gettyMissing = [...expected].flatMap(([s, ls]) => ls.map((l) => `${s}\n${l}`)).filter((x) => !gettyLines.has(x));
check(g.sawLastLine === true && gettyMissing.length === 0,
  '/proc/1/root/usr/bin/logread -F from another mount namespace and root printed every line',
  `code ${g.code} signal ${g.signal}, ${gettyMissing.length} lines missing; stderr: ${(g.stderr ?? '').trim().slice(-500)}`);

// --- logbundle (once the build has it) ---------------------------------------------------------

const bins = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).bin ?? {};
if (!('logbundle' in bins)) {
  console.log('skip logbundle: not in this build (package.json has no logbundle binary yet)');
} else {
  const b = r.bundle;
  if (check(b?.code === 0 && typeof b.archive === 'string', 'logbundle made a bundle (exit 0)', JSON.stringify({ ...b, archive: undefined }).slice(0, 800))) {
    const archive = Buffer.from(b.archive, 'base64');
    const side = /^([0-9a-f]{64})\s/.exec(b.sha256 ?? '');
    check(side?.[1] === sha256(archive), 'the bundle matches its .sha256 sidecar', `sidecar ${b.sha256?.trim()}, archive ${sha256(archive)}`);
    const dir = path.join(OUT, 'bundle');
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(OUT, 'bundle.tar.gz'), archive);
    const x = spawnSync('tar', ['-xzf', path.join(OUT, 'bundle.tar.gz'), '-C', dir], { encoding: 'utf8' });
    const tops = x.status === 0 ? fs.readdirSync(dir) : [];
    const manifestFile = tops.length === 1 ? path.join(dir, tops[0], 'manifest.json') : '';
    if (check(manifestFile !== '' && fs.existsSync(manifestFile), 'the bundle unpacks to one directory with manifest.json', x.stderr || tops.join(' '))) {
      const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
      const items = manifest.items.filter((i) => i.status === 'ok');
      const bad = items.filter((i) => {
        const f = path.join(dir, tops[0], i.path);
        return !fs.existsSync(f) || sha256(fs.readFileSync(f)) !== i.sha256;
      });
      check(items.length > 0 && bad.length === 0, `every archived item matches its sha256 in manifest.json (${items.length} items)`,
        bad.slice(0, 5).map((i) => i.path).join(' '));
      const dumpItem = manifest.items.find((i) => i.path === 'memlogd/dump.ndjson');
      check(dumpItem?.status === 'ok', 'the bundle holds memlogd\'s dump', JSON.stringify(dumpItem));
    }
  }
}

// --- timings -----------------------------------------------------------------------------------

// Host ms since QEMU started for a console marker; with the guest's uptime printed beside it,
// that gives the host time of the kernel's start (uptime 0).
const consoleText = read(path.join(OUT, 'console.log'));
const hostAt = (name) => {
  const m = new RegExp(`^\\s*(\\d+) vm-mark ${name} ([\\d.]+)`, 'm').exec(consoleText);
  return m ? { host: Number(m[1]), up: Number(m[2]) } : null;
};
const init = hostAt('init');
const kernelStartHostMs = init ? init.host - init.up * 1000 : NaN;
const firstKernel = r.dump.find((e) => e.source === S.KMSG_SERVICE && text(e.msg).startsWith(S.KERNEL_LINES[0]));
const firstUp = firstKernel ? Date.parse(firstKernel.time) / 1000 - r.bootWall : NaN;
const memlogdUp = r.dump.find((e) => e.source === 'memlogd') ? Date.parse(r.dump.find((e) => e.source === 'memlogd').time) / 1000 - r.bootWall : NaN;
const runEnv = Object.fromEntries(read(path.join(OUT, 'run.env')).trim().split(/\s+/).map((kv) => kv.split('=')));
const s = (x) => (Number.isFinite(x) ? `${x.toFixed(1)} s` : '?');
console.log(`timing (${runEnv.accel ?? '?'}): kernel started ${s(kernelStartHostMs / 1000)} after QEMU; /init at ${s(init?.up)} uptime; ` +
  `memlogd up at ${s(memlogdUp)}; first kernel line in memlogd at ${s(firstUp)} uptime (${s(kernelStartHostMs / 1000 + firstUp)} after QEMU started); ` +
  `every line in at ${s(r.marks?.arrived)}; QEMU exited after ${s(Number(runEnv.host_ms) / 1000)}`);

finish();
