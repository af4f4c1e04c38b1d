// npm run bench: memlogd against the physical baseline, scenario by scenario, 3 runs each, and
// beside LinuxKit's Go memlogd in the same run when its binaries are there (--reference DIR,
// default ../shared/reference/bin; --no-reference to skip). Prints a markdown table, writes
// bench/results/bench.json and bench/results/throughput.svg.
//
//   node dist/bench/run.js [--runs N] [--only name,name] [--smoke] [--out DIR] [--reference DIR] [-- memlogd flags]

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { handOffPipe } from '../lib/client/handoff.js';
import * as native from '../lib/native/index.js';
import { throughputChart } from './chart.js';
import { DEFAULT_REFERENCE, ours, processesOf, reference, startDaemon, type Binaries } from './daemons.js';
import { procStat } from './proc.js';
import { benchSource } from './line-format.js';
import type { WriterJob } from './writer.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
// BENCH_MEMLOGD=<path to another build's dist/cmd/memlogd.js>: measure that build with this
// same harness (before/after comparisons in one run); see daemons.ts.
const MAX_WRITER_THREADS = 10;
/** Writer threads run at this niceness (see writer.ts); BENCH_WRITER_NICE=0 to compare. */
const WRITER_NICE = Number(process.env.BENCH_WRITER_NICE ?? 10);

interface Scenario {
  name: string;
  sources: number;
  lines: number; // per source
  size: number;
  rate?: number; // lines/s per source (latency scenario)
}

const SCENARIOS: Scenario[] = [
  { name: '1x1M', sources: 1, lines: 1_000_000, size: 100 },
  { name: '10x1M', sources: 10, lines: 1_000_000, size: 100 },
  { name: '100x10k', sources: 100, lines: 10_000, size: 100 },
  { name: '1000x1000', sources: 1000, lines: 1000, size: 100 },
  { name: 'latency@10k/s', sources: 1, lines: 50_000, size: 100, rate: 10_000 },
];
const SMOKE: Scenario[] = [
  { name: 'smoke-1x4000', sources: 1, lines: 4000, size: 100 },
  { name: 'smoke-20x200', sources: 20, lines: 200, size: 100 },
];

interface RunResult {
  userSec?: number;
  sysSec?: number;
  linesPerSec: number;
  received: number;
  missed: number;
  orderErrors: number;
  /** Sources whose lines received plus lines gaps attributed to them differ from lines written. */
  sourceMismatches?: number;
  followerCpuSec?: number;
  cpuSec?: number;
  cpuSecPerMillion?: number;
  peakRssMB?: number;
  latencyMs?: { p50: number; p99: number; max: number } | null;
}

const args = process.argv.slice(2);
const dashdash = args.indexOf('--');
const memlogdFlags = dashdash >= 0 ? args.slice(dashdash + 1) : [];
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 && (dashdash < 0 || i < dashdash) ? args[i + 1] : undefined;
};
const smoke = args.includes('--smoke');
const runs = Number(opt('--runs') ?? (smoke ? 1 : 3));
const only = opt('--only')?.split(',');
const outDir = path.resolve(opt('--out') ?? path.join(ROOT, 'bench/results'));
const ref = args.includes('--no-reference') ? null : reference(opt('--reference') ?? DEFAULT_REFERENCE);

function lineReader(p: ChildProcess): () => Promise<string> {
  let buf = '';
  const waiting: Array<(l: string) => void> = [];
  const lines: string[] = [];
  p.stdout!.setEncoding('utf8');
  p.stdout!.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const w = waiting.shift();
      if (w) w(l);
      else lines.push(l);
    }
  });
  return () => (lines.length ? Promise.resolve(lines.shift()!) : new Promise((r) => waiting.push(r)));
}

/** Creates the pipes, hands the read ends to `logSock`, starts writer threads behind a barrier. */
async function feed(s: Scenario, logSock: string, release: () => void): Promise<() => Promise<void>> {
  const start = new SharedArrayBuffer(4);
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < s.sources; i++) {
    pairs.push([handOffPipe(logSock, benchSource(i)), i]);
  }
  const threads = Math.min(s.sources, MAX_WRITER_THREADS);
  const exits: Array<Promise<void>> = [];
  for (let t = 0; t < threads; t++) {
    const job: WriterJob = { fds: pairs.filter((_, i) => i % threads === t), lines: s.lines, size: s.size, rate: s.rate ?? 0, start, nice: WRITER_NICE };
    const w = new Worker(path.join(HERE, 'writer.js'), { workerData: job });
    exits.push(new Promise((resolve, reject) => {
      w.once('error', reject);
      w.once('exit', () => {
        job.fds.forEach(([fd]) => native.close(fd)); // EOF for the reader
        resolve();
      });
    }));
  }
  await new Promise((r) => setTimeout(r, 100)); // let every worker reach its barrier
  release();
  Atomics.store(new Int32Array(start), 0, 1);
  Atomics.notify(new Int32Array(start), 0);
  return () => Promise.all(exits).then(() => {});
}

async function runMemlogd(s: Scenario, dir: string, bins: Binaries = ours()): Promise<RunResult> {
  // MEMLOGD_NODE_ARGS="--cpu-prof --cpu-prof-dir=prof" profiles the daemon under load
  const nodeArgs = process.env.MEMLOGD_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const daemon = await startDaemon(bins, dir, bins.impl === 'ours' ? memlogdFlags : [], nodeArgs);
  const { log, query } = daemon;
  const d = daemon.proc;
  try {
    const total = s.sources * s.lines;
    const f = spawn(process.execPath, [path.join(HERE, 'follower.js'), query, String(total), String(s.sources), String(s.size), s.rate ? 'timed' : 'throughput'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const next = lineReader(f);
    if ((await next()) !== 'ready') throw new Error('follower did not start');
    await new Promise((r) => setTimeout(r, 100));
    let t0 = 0n;
    let st0 = procStat(d.pid!);
    const done = await feed(s, log, () => {
      st0 = procStat(d.pid!);
      t0 = process.hrtime.bigint();
    });
    const res = JSON.parse(await next());
    await done();
    const st = procStat(d.pid!);
    const secs = Number(BigInt(res.lastAt) - t0) / 1e9;
    const cpuSec = st.cpuSec - st0.cpuSec;
    return {
      linesPerSec: Math.round(res.received / secs), received: res.received, missed: res.missed, orderErrors: res.orderErrors,
      sourceMismatches: res.sourceMismatches, followerCpuSec: res.cpuSec, cpuSec,
      userSec: st.userSec - st0.userSec, sysSec: st.sysSec - st0.sysSec, cpuSecPerMillion: cpuSec / (total / 1e6), peakRssMB: st.peakRssMB, latencyMs: res.latencyMs,
    };
  } finally {
    await daemon.stop();
  }
}

async function runBaseline(s: Scenario, dir: string): Promise<RunResult> {
  const sock = path.join(dir, 'base.sock');
  const total = s.sources * s.lines;
  const b = spawn(process.execPath, [path.join(HERE, 'baseline.js'), sock, String(total)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const next = lineReader(b);
  if ((await next()) !== 'ready') throw new Error('baseline did not start');
  let t0 = 0n;
  const done = await feed(s, sock, () => (t0 = process.hrtime.bigint()));
  const res = JSON.parse(await next());
  await done();
  const secs = Number(BigInt(res.lastAt) - t0) / 1e9;
  return { linesPerSec: Math.round(res.received / secs), received: res.received, missed: 0, orderErrors: 0 };
}

async function daemonizeMs(dir: string): Promise<number> {
  const log = path.join(dir, 'd-log.sock');
  const query = path.join(dir, 'd-q.sock');
  const t0 = process.hrtime.bigint();
  const [cmd, ...pre] = ours().memlogd;
  const p = spawn(cmd, [...pre, '-daemonize', '-socket-log', log, '-socket-query', query], { stdio: 'ignore' });
  const code = await new Promise((r) => p.once('exit', r));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (code !== 0) throw new Error(`memlogd -daemonize exited ${code}`);
  // prove both sockets accept, then stop the background daemon
  const probe = native.socketStream();
  native.connect(probe, query);
  native.close(probe);
  // SIGTERM to one of them (supervisor, serving memlogd) stops both
  const [pid] = processesOf([cmd, ...pre, query]);
  if (pid) process.kill(pid, 'SIGTERM');
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Medians of a scenario's runs (worst case for delivery and errors); the same for ours and the reference. */
function summary(rs: RunResult[], total: number, latency: boolean) {
  const pick = (k: keyof RunResult) => median(rs.map((r) => Number(r[k] ?? 0)));
  return {
    linesPerSec: pick('linesPerSec'),
    delivered: Math.min(...rs.map((r) => r.received / total)),
    missed: Math.max(...rs.map((r) => r.missed)),
    orderErrors: Math.max(...rs.map((r) => r.orderErrors)),
    sourceMismatches: Math.max(...rs.map((r) => r.sourceMismatches ?? 0)),
    cpuSecPerMillion: pick('cpuSecPerMillion'),
    peakRssMB: Math.max(...rs.map((r) => r.peakRssMB ?? 0)),
    latencyMs: latency ? {
      p50: median(rs.map((r) => r.latencyMs?.p50 ?? NaN)),
      p99: median(rs.map((r) => r.latencyMs?.p99 ?? NaN)),
      max: median(rs.map((r) => r.latencyMs?.max ?? NaN)),
    } : null,
    allRuns: rs,
  };
}

async function main(): Promise<void> {
  fs.mkdirSync(outDir, { recursive: true });
  const dir = fs.mkdtempSync('/tmp/mlb-');
  const scenarios = (smoke ? SMOKE : SCENARIOS).filter((s) => !only || only.includes(s.name));
  const report: Record<string, any>[] = [];
  for (const s of scenarios) {
    const mine: RunResult[] = [];
    const base: RunResult[] = [];
    const theirs: RunResult[] = [];
    for (let i = 0; i < runs; i++) {
      mine.push(await runMemlogd(s, dir));
      if (!s.rate) base.push(await runBaseline(s, dir));
      if (ref && !smoke) theirs.push(await runMemlogd(s, dir, ref));
      process.stderr.write(`${s.name} run ${i + 1}/${runs}: ${mine.at(-1)!.linesPerSec} lines/s${theirs.length ? `, reference ${theirs.at(-1)!.linesPerSec}` : ''}\n`);
    }
    const total = s.sources * s.lines;
    report.push({
      scenario: s.name, sources: s.sources, lines: total, lineBytes: s.size, runs,
      baselineLinesPerSec: base.length ? median(base.map((r) => r.linesPerSec)) : null,
      ...summary(mine, total, Boolean(s.rate)),
      reference: theirs.length ? summary(theirs, total, Boolean(s.rate)) : null,
    });
  }
  if (!smoke && (!only || only.includes('daemonize'))) {
    // One untimed warm-up: after the heavy scenarios, the first start also pages node back in.
    await daemonizeMs(dir);
    const times = [];
    for (let i = 0; i < runs; i++) times.push(await daemonizeMs(dir));
    report.push({ scenario: 'daemonize', startupMs: median(times), allRuns: times });
  }
  fs.rmSync(dir, { recursive: true, force: true });

  const meta = { date: new Date().toISOString(), node: process.version, memlogdFlags, cpus: (await import('node:os')).cpus().length };
  fs.writeFileSync(path.join(outDir, smoke ? 'smoke.json' : 'bench.json'), JSON.stringify({ meta, results: report }, null, 2));
  if (!smoke) fs.writeFileSync(path.join(outDir, 'throughput.svg'), throughputChart(report as Parameters<typeof throughputChart>[0]));
  console.log(markdown(report));
}

function markdown(rows: Record<string, any>[]): string {
  const out = [
    '| scenario | lines | memlogd lines/s | baseline lines/s | ratio | delivered | missed | order errors | CPU s / M lines | peak RSS MB | latency p50 / p99 ms |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    if (r.scenario === 'daemonize') {
      out.push(`| -daemonize start-up | | | | | | | | | | ${r.startupMs.toFixed(0)} ms to both sockets accepting |`);
      continue;
    }
    const ratio = r.baselineLinesPerSec ? `${((100 * r.linesPerSec) / r.baselineLinesPerSec).toFixed(0)} %` : '';
    const lat = r.latencyMs ? `${r.latencyMs.p50.toFixed(2)} / ${r.latencyMs.p99.toFixed(2)}` : '';
    out.push(`| ${r.scenario} | ${r.lines.toLocaleString('en')} | ${r.linesPerSec.toLocaleString('en')} | ${r.baselineLinesPerSec?.toLocaleString('en') ?? ''} | ${ratio} | ${(100 * r.delivered).toFixed(1)} % | ${r.missed} | ${r.orderErrors} | ${r.cpuSecPerMillion.toFixed(2)} | ${r.peakRssMB.toFixed(1)} | ${lat} |`);
    const t = r.reference;
    if (t) {
      const tl = t.latencyMs ? `${t.latencyMs.p50.toFixed(2)} / ${t.latencyMs.p99.toFixed(2)}` : '';
      out.push(`| ${r.scenario}, reference | ${r.lines.toLocaleString('en')} | ${t.linesPerSec.toLocaleString('en')} | | ours ${(r.linesPerSec / t.linesPerSec).toFixed(1)}x | ${(100 * t.delivered).toFixed(1)} % | ${t.missed} | ${t.orderErrors} | ${t.cpuSecPerMillion.toFixed(2)} | ${t.peakRssMB.toFixed(1)} | ${tl} |`);
    }
  }
  return out.join('\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
