// logforward scenario: lines/s from memlogd to a real rsyslogd, per transport.
//
//   node dist/bench/forward.js [--lines N] [--runs N] [--only relp,tcp,...] [--out DIR]
//
// Each run: memlogd is loaded with N lines of 100 bytes from one source; rsyslogd (bench/rsyslog.ts:
// Direct queues, so a RELP acknowledgement means written) listens on the one transport; then
// logforward starts with that one destination and a state file, and the clock runs from its
// "connected" line until rsyslog has written every line to its file (`app TAB sd TAB msg`).
// Client and server share the machine's cores. UDP counts what arrived (it may lose datagrams).
// Prints a markdown table and writes forward.json.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { feed, MSG_BYTES, option, SOURCE, storeLines } from './load.js';
import { procStat, waitStderr } from './proc.js';
import { makeCerts, rsyslogInstalled, startRsyslog, type InputName } from './rsyslog.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const MEMLOGD = path.join(ROOT, 'dist/cmd/memlogd.js');
const LOGFORWARD = path.join(ROOT, 'dist/cmd/logforward.js');

const LINES = Number(option('--lines') ?? 200_000);
const RUNS = Number(option('--runs') ?? 3);
const outDir = path.resolve(option('--out') ?? path.join(ROOT, 'bench/results'));
const TRANSPORTS = ['relp', 'tcp', 'tls', 'udp'] as const;
type Transport = (typeof TRANSPORTS)[number];
const only = (option('--only')?.split(',') ?? TRANSPORTS) as Transport[];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Run {
  linesPerSec: number;
  delivered: number;
  cpuSecPerMillion: number;
  peakRssMB: number;
}

const INPUT: Record<Transport, InputName> = { relp: 'relp', tcp: 'tcp', tls: 'tls', udp: 'udp' };

function destination(t: Transport, port: number, certs: string): string {
  switch (t) {
    case 'relp': return `relp://127.0.0.2:${port}`;
    case 'tcp': return `tcp://127.0.0.1:${port}`;
    case 'tls': return `tls://127.0.0.4:${port}?ca=${path.join(certs, 'ca.pem')}`;
    default: return `udp://127.0.0.1:${port}?maxsize=8k`;
  }
}

async function once(t: Transport, certs: string): Promise<Run> {
  const dir = fs.mkdtempSync('/tmp/lfb-');
  const log = path.join(dir, 'log.sock');
  const query = path.join(dir, 'q.sock');
  const d = spawn(process.execPath, [MEMLOGD, '-socket-log', log, '-socket-query', query, '-max-lines', String(LINES + 1000),
    '--max-bytes', String(LINES * (MSG_BYTES + 16) + (1 << 20))], { stdio: ['ignore', 'ignore', 'pipe'] });
  const srv = await startRsyslog({ dir: path.join(dir, 'rsyslog'), certs, [INPUT[t]]: 0, template: 'compact' });
  let lf: ChildProcess | null = null;
  try {
    await waitStderr(d, 'serving');
    feed(log, SOURCE, 0, LINES);
    while ((await storeLines(query)) < LINES + 1) await sleep(20);
    lf = spawn(process.execPath, [LOGFORWARD, '-socket', query, '--state', path.join(dir, 'lf.state'), destination(t, srv.ports[INPUT[t]]!, certs)],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    await waitStderr(lf, 'connected;');
    const t0 = process.hrtime.bigint();
    const c0 = procStat(lf.pid!);
    // every line (and memlogd's own first one) written by rsyslog; UDP: until nothing more comes
    let last = -1;
    let lastChange = process.hrtime.bigint();
    let t1 = t0;
    for (;;) {
      const n = srv.count(INPUT[t]);
      const now = process.hrtime.bigint();
      if (n !== last) {
        last = n;
        lastChange = t1 = now;
      }
      if (n >= LINES + 1) break;
      if (now - lastChange > 3_000_000_000n) break; // lost datagrams: what arrived is counted
      if (lf.exitCode !== null) throw new Error(`logforward exited ${lf.exitCode}`);
      await sleep(5);
    }
    const c1 = procStat(lf.pid!);
    lf.kill('SIGTERM');
    const code = await new Promise((r) => (lf!.exitCode !== null ? r(lf!.exitCode) : lf!.once('exit', r)));
    if (code !== 0) throw new Error(`logforward exited ${code} on SIGTERM`);
    const sec = Number(t1 - t0) / 1e9;
    const got = Math.min(last, LINES + 1) - 1;
    return { linesPerSec: Math.round(got / sec), delivered: got / LINES, cpuSecPerMillion: (c1.cpuSec - c0.cpuSec) / (got / 1e6), peakRssMB: c1.peakRssMB };
  } finally {
    if (lf && lf.exitCode === null) lf.kill('SIGKILL');
    await srv.stop();
    d.kill('SIGTERM');
    await new Promise((r) => (d.exitCode !== null ? r(null) : d.once('exit', r)));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  if (!rsyslogInstalled()) {
    // the rest of `npm run bench` does not need it: say so and end without failing the chain
    console.error('logforward bench skipped: rsyslogd with rsyslog-relp and rsyslog-gnutls is not installed');
    return;
  }
  const certs = fs.mkdtempSync('/tmp/lfb-certs-');
  makeCerts(certs);
  const results = [];
  try {
    for (const t of only) {
      const runs: Run[] = [];
      for (let i = 0; i < RUNS; i++) {
        runs.push(await once(t, certs));
        const r = runs.at(-1)!;
        process.stderr.write(`logforward ${t} run ${i + 1}/${RUNS}: ${r.linesPerSec} lines/s, ${(r.delivered * 100).toFixed(1)} % delivered\n`);
      }
      const pick = (k: keyof Run) => median(runs.map((r) => r[k]));
      results.push({
        scenario: `logforward ${t} 1x${LINES / 1000}k`, transport: t, lines: LINES, lineBytes: MSG_BYTES, runs: RUNS,
        linesPerSec: pick('linesPerSec'), delivered: pick('delivered'), cpuSecPerMillion: pick('cpuSecPerMillion'),
        peakRssMB: Math.max(...runs.map((r) => r.peakRssMB)), allRuns: runs,
      });
    }
  } finally {
    fs.rmSync(certs, { recursive: true, force: true });
  }
  fs.mkdirSync(outDir, { recursive: true });
  const meta = { date: new Date().toISOString(), node: process.version, cpus: os.cpus().length };
  fs.writeFileSync(path.join(outDir, 'forward.json'), JSON.stringify({ meta, results }, null, 2));
  console.log('| logforward to rsyslog | lines | lines/s | delivered | CPU s / M lines | peak RSS MB |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of results) {
    console.log(`| ${r.transport} | ${r.lines.toLocaleString('en')} | ${r.linesPerSec.toLocaleString('en')} | ${(r.delivered * 100).toFixed(1)} % | `
      + `${r.cpuSecPerMillion.toFixed(2)} | ${r.peakRssMB.toFixed(1)} |`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
