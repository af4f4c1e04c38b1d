// logwrite scenario: lines/s from memlogd to disk, through the real daemon and the real binary.
//
//   node dist/bench/logwrite.js [--lines N] [--runs N] [--out DIR]
//
// Each run: memlogd is loaded with N lines of 100 bytes from one source, then logwrite starts on
// an empty directory (1 MiB files, enough of them to keep everything, default fsync policy) and
// the clock runs from its "connected" line until every byte is in the files (drain). Then, with
// logwrite running, another N lines are fed as fast as a pipe takes them and the clock runs until
// they are on disk (live). Prints one markdown row (the columns of bench/run.ts) and writes
// logwrite.json.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFileName } from '../lib/logwrite/names.js';
import { feed, MSG_BYTES, option, SOURCE, storeLines } from './load.js';
import { procStat, waitStderr } from './proc.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const MEMLOGD = path.join(ROOT, 'dist/cmd/memlogd.js');
const LOGWRITE = path.join(ROOT, 'dist/cmd/logwrite.js');
/** `<20-byte time> bench.out <msg>\n` */
const LINE_BYTES = 20 + 1 + SOURCE.length + 1 + MSG_BYTES + 1;

const LINES = Number(option('--lines') ?? 500_000);
const RUNS = Number(option('--runs') ?? 3);
const outDir = path.resolve(option('--out') ?? path.join(ROOT, 'bench/results'));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Bytes in the source's files (current and rotated). */
function sourceBytes(dir: string): number {
  let n = 0;
  for (const name of fs.readdirSync(dir)) {
    if (parseFileName(name)?.base !== SOURCE) continue;
    try {
      n += fs.statSync(path.join(dir, name)).size;
    } catch { /* rotated away meanwhile: counted on the next look */ }
  }
  return n;
}

async function waitBytes(dir: string, bytes: number, p: ChildProcess): Promise<bigint> {
  for (;;) {
    if (sourceBytes(dir) >= bytes) return process.hrtime.bigint();
    if (p.exitCode !== null) throw new Error(`logwrite exited ${p.exitCode}`);
    await sleep(5);
  }
}

interface Run {
  drainLinesPerSec: number;
  liveLinesPerSec: number;
  cpuSecPerMillion: number;
  peakRssMB: number;
}

async function once(): Promise<Run> {
  const dir = fs.mkdtempSync('/tmp/lwb-');
  const log = path.join(dir, 'log.sock');
  const query = path.join(dir, 'q.sock');
  const out = path.join(dir, 'out');
  const d = spawn(process.execPath, [MEMLOGD, '-socket-log', log, '-socket-query', query, '-max-lines', String(2 * LINES + 1000),
    '--max-bytes', String(2 * LINES * (MSG_BYTES + 16))], { stdio: ['ignore', 'ignore', 'pipe'] });
  let lw: ChildProcess | null = null;
  try {
    await waitStderr(d, 'serving');
    feed(log, SOURCE, 0, LINES);
    while ((await storeLines(query)) < LINES + 1) await sleep(20);
    const files = Math.ceil((2 * LINES * LINE_BYTES) / (1024 * 1024)) + 5;
    // LOGWRITE_NODE_ARGS="--max-semi-space-size=2": the deployment setting docs/logwrite.md suggests
    const nodeArgs = process.env.LOGWRITE_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    lw = spawn(process.execPath, [...nodeArgs, LOGWRITE, '-socket', query, '-log-dir', out, '-max-log-size', '1048576', '-max-log-files', String(files)],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    await waitStderr(lw, 'connected to memlogd');
    const t0 = process.hrtime.bigint();
    const c0 = procStat(lw.pid!);
    const t1 = await waitBytes(out, LINES * LINE_BYTES, lw);
    const c1 = procStat(lw.pid!);
    const drainSec = Number(t1 - t0) / 1e9;
    // live: logwrite follows while the lines arrive
    const t2 = process.hrtime.bigint();
    feed(log, SOURCE, LINES, LINES);
    const t3 = await waitBytes(out, 2 * LINES * LINE_BYTES, lw);
    const liveSec = Number(t3 - t2) / 1e9;
    const st = procStat(lw.pid!);
    lw.kill('SIGTERM');
    const code = await new Promise((r) => (lw!.exitCode !== null ? r(lw!.exitCode) : lw!.once('exit', r)));
    if (code !== 0) throw new Error(`logwrite exited ${code} on SIGTERM`);
    if (sourceBytes(out) !== 2 * LINES * LINE_BYTES) throw new Error(`wrote ${sourceBytes(out)} bytes, expected ${2 * LINES * LINE_BYTES}`);
    return {
      drainLinesPerSec: Math.round(LINES / drainSec), liveLinesPerSec: Math.round(LINES / liveSec),
      cpuSecPerMillion: (c1.cpuSec - c0.cpuSec) / (LINES / 1e6), peakRssMB: st.peakRssMB,
    };
  } finally {
    if (lw && lw.exitCode === null) lw.kill('SIGKILL');
    d.kill('SIGTERM');
    await new Promise((r) => (d.exitCode !== null ? r(null) : d.once('exit', r)));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const runs: Run[] = [];
  for (let i = 0; i < RUNS; i++) {
    runs.push(await once());
    process.stderr.write(`logwrite run ${i + 1}/${RUNS}: drain ${runs.at(-1)!.drainLinesPerSec} lines/s, live ${runs.at(-1)!.liveLinesPerSec} lines/s\n`);
  }
  const pick = (k: keyof Run) => median(runs.map((r) => r[k]));
  const result = {
    scenario: `logwrite 1x${LINES >= 1000 ? `${LINES / 1000}k` : LINES} to disk`, sources: 1, lines: LINES, lineBytes: MSG_BYTES, runs: RUNS,
    linesPerSec: pick('drainLinesPerSec'), liveLinesPerSec: pick('liveLinesPerSec'), bytesPerLine: LINE_BYTES,
    cpuSecPerMillion: pick('cpuSecPerMillion'), peakRssMB: Math.max(...runs.map((r) => r.peakRssMB)), allRuns: runs,
  };
  fs.mkdirSync(outDir, { recursive: true });
  const meta = { date: new Date().toISOString(), node: process.version, cpus: (await import('node:os')).cpus().length };
  fs.writeFileSync(path.join(outDir, 'logwrite.json'), JSON.stringify({ meta, results: [result] }, null, 2));
  // bench/run.ts columns: scenario | lines | lines/s | baseline | ratio | delivered | missed | order errors | CPU s/M | RSS | latency
  console.log(`| ${result.scenario} (drain; live ${result.liveLinesPerSec.toLocaleString('en')} lines/s) | ${LINES.toLocaleString('en')} | `
    + `${result.linesPerSec.toLocaleString('en')} | | | 100.0 % | 0 | 0 | ${result.cpuSecPerMillion.toFixed(2)} | ${result.peakRssMB.toFixed(1)} | |`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
