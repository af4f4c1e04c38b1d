// npm run bench, part 2: the paths a user touches, ours beside LinuxKit's Go binaries in the same
// run (--reference DIR, default ../shared/reference/bin): logread dumping 1M lines to a pipe
// (text, --json), `logread -F` through a 200,000-line burst, logwrite draining 1M lines to disk,
// start-up against `node -e 0`, memlogd's RSS idle and after 1M lines, CPU per line at a low rate.
// Medians of --runs (default 3). Prints markdown, writes bench/results/paths.json.
//
//   node dist/bench/paths.js [--runs N] [--only logread,burst,logwrite,startup,rss,lowrate] [--reference DIR] [--out DIR]

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { handOffPipe } from '../lib/client/handoff.js';
import * as native from '../lib/native/index.js';
import { accepts, bigStore, DEFAULT_REFERENCE, ours, processesOf, reference, ROOT, startDaemon, until, type Binaries } from './daemons.js';
import { procStat } from './proc.js';
import type { WriterJob } from './writer.js';

const args = process.argv.slice(2);
const opt = (n: string) => (args.includes(n) ? args[args.indexOf(n) + 1] : undefined);
const RUNS = Number(opt('--runs') ?? 3);
const only = opt('--only')?.split(',');
const outDir = path.resolve(opt('--out') ?? path.join(ROOT, 'bench/results'));
const ref = args.includes('--no-reference') ? null : reference(opt('--reference') ?? DEFAULT_REFERENCE);
const impls: Binaries[] = [ours(), ...(ref ? [ref] : [])];
const HERE = path.join(ROOT, 'dist/bench');
const MSG = 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const secsSince = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e9;
const tmp = () => fs.mkdtempSync('/tmp/mlp-');

/** n lines of MSG bytes into one pipe memlogd reads as `bench.out`, as fast as the pipe takes them. */
function feedLines(logSock: string, n: number, from = 0): void {
  const w = handOffPipe(logSock, 'bench.out');
  const pad = 'x'.repeat(MSG);
  let text = '';
  for (let i = from; i < from + n; i++) {
    const h = `line ${i} `;
    text += h + pad.slice(h.length) + '\n';
    if (text.length > 1 << 20) {
      writeAll(w, text);
      text = '';
    }
  }
  writeAll(w, text);
  native.close(w);
}

function writeAll(fd: number, text: string): void {
  const b = Buffer.from(text);
  for (let o = 0; o < b.length;) o += fs.writeSync(fd, b, o, b.length - o);
}

/** Waits until memlogd holds n entries (a v1 dump counted). */
async function holds(b: Binaries, query: string, n: number): Promise<void> {
  for (;;) {
    const r = spawnSync(b.logread[0], [...b.logread.slice(1), '-socket', query], { maxBuffer: 1 << 30 });
    if (r.stdout.toString('latin1').split('\n').length - 1 >= n) return;
    await sleep(100);
  }
}

type Row = Record<string, string | number | null>;
const rows: Row[] = [];
const results: Record<string, unknown> = {};

async function logreadDump(): Promise<void> {
  for (const b of impls) {
    const dir = tmp();
    const d = await startDaemon(b, dir, bigStore(b, 1_000_100));
    try {
      feedLines(d.log, 1_000_000);
      await holds(b, d.query, 1_000_000);
      for (const json of b.impl === 'ours' ? [false, true] : [false]) {
        const times: number[] = [];
        for (let i = 0; i < RUNS; i++) {
          const t = process.hrtime.bigint();
          const r = spawnSync('sh', ['-c', `"$@" | wc -l`, 'sh', ...b.logread, '-socket', d.query, ...(json ? ['--json'] : [])], { encoding: 'utf8' });
          times.push(secsSince(t));
          if (Number(r.stdout.trim()) < 1_000_000) throw new Error(`${b.impl} logread printed ${r.stdout.trim()} lines`);
        }
        rows.push({ path: `logread${json ? ' --json' : ''} dump 1M to a pipe`, impl: b.impl, 'lines/s': Math.round(1_000_000 / median(times)) });
      }
      if (b.impl === 'ours') {
        // the physical limit: a raw reader of the query socket (v1 dump), counting newlines
        const times: number[] = [];
        for (let i = 0; i < RUNS; i++) {
          const t = process.hrtime.bigint();
          spawnSync(process.execPath, [path.join(HERE, 'raw-reader.js'), d.query]);
          times.push(secsSince(t));
        }
        rows.push({ path: 'raw query socket read (v1 dump)', impl: 'physical', 'lines/s': Math.round(1_000_000 / median(times)) });
      }
    } finally {
      await d.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** logread -F into a plain pipe reader while 200,000 lines go into one pipe as fast as it takes them. */
async function burst(): Promise<void> {
  const N = 200_000;
  for (const b of impls) {
    const got: number[] = [];
    const ingest: number[] = [];
    const ingestFollowed: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      for (const follow of [true, false]) {
        const dir = tmp();
        const d = await startDaemon(b, dir);
        try {
          const out = path.join(dir, 'out');
          const f = follow ? spawn('sh', ['-c', `"$@" > ${out}`, 'sh', ...b.logread, '-socket', d.query, '-F']) : null;
          if (f) await sleep(500);
          const t = process.hrtime.bigint();
          // blocking writes: when the last one returns, memlogd has read all but a pipe's worth
          feedLines(d.log, N);
          (follow ? ingestFollowed : ingest).push(N / secsSince(t));
          if (f) {
            await sleep(1000);
            f.kill('SIGTERM');
            await new Promise((r) => f.once('exit', r));
            const text = fs.readFileSync(out, 'latin1');
            got.push((text.match(/;bench\.out;line /g) ?? []).length);
          }
        } finally {
          await d.stop();
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }
    }
    rows.push({
      path: 'logread -F during a 200k-line burst: lines received', impl: b.impl, received: `${Math.min(...got).toLocaleString('en')} of ${N.toLocaleString('en')}`,
      'ingest lines/s with / without follower': `${Math.round(median(ingestFollowed)).toLocaleString('en')} / ${Math.round(median(ingest)).toLocaleString('en')}`,
    });
    results[`burst-${b.impl}`] = { received: got, ingest, ingestFollowed };
  }
}

async function logwrite(): Promise<void> {
  const N = 1_000_000;
  const LINE = 20 + 1 + 'bench.out'.length + 1 + MSG + 1;
  for (const b of impls) {
    const dir = tmp();
    const d = await startDaemon(b, dir, bigStore(b, N + 100));
    try {
      feedLines(d.log, N);
      await holds(b, d.query, N);
      const runs: Array<{ rate: number; cpu: number; rss: number }> = [];
      for (let i = 0; i < RUNS; i++) {
        const out = path.join(dir, `out${i}`);
        fs.mkdirSync(out);
        const t = process.hrtime.bigint();
        const lw = spawn(b.logwrite[0], [...b.logwrite.slice(1), '-socket', d.query, '-log-dir', out, '-max-log-size', String(1 << 30)], { stdio: 'ignore' });
        const file = path.join(out, 'bench.out.log');
        await until(() => (fs.existsSync(file) && fs.statSync(file).size >= N * LINE) || lw.exitCode !== null, 'logwrite to drain', 300_000);
        const secs = secsSince(t);
        const st = procStat(lw.pid!);
        lw.kill('SIGTERM');
        await new Promise((r) => lw.once('exit', r));
        runs.push({ rate: N / secs, cpu: st.cpuSec / (N / 1e6), rss: st.peakRssMB });
        fs.rmSync(out, { recursive: true, force: true });
      }
      rows.push({
        path: 'logwrite draining 1M lines to disk', impl: b.impl, 'lines/s': Math.round(median(runs.map((r) => r.rate))),
        'CPU-s/M': median(runs.map((r) => r.cpu)).toFixed(2), 'peak RSS MB': Math.max(...runs.map((r) => r.rss)).toFixed(1),
      });
    } finally {
      await d.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

async function startup(): Promise<void> {
  const nodeMs: number[] = [];
  const times = new Map<string, number[]>();
  const add = (k: string, v: number) => times.set(k, [...(times.get(k) ?? []), v]);
  for (let i = 0; i < RUNS + 4; i++) {
    let t = process.hrtime.bigint();
    spawnSync(process.execPath, ['-e', '0']);
    nodeMs.push(secsSince(t) * 1000);
    for (const b of impls) {
      const dir = tmp();
      t = process.hrtime.bigint();
      const d = await startDaemon(b, dir);
      add(`${b.impl} foreground`, secsSince(t) * 1000);
      await d.stop();
      const log = path.join(dir, 'dl.sock');
      const query = path.join(dir, 'dq.sock');
      const before = processesOf(b.memlogd);
      t = process.hrtime.bigint();
      const r = spawnSync(b.memlogd[0], [...b.memlogd.slice(1), '-daemonize', '-socket-log', log, '-socket-query', query], { stdio: 'ignore' });
      const ms = secsSince(t) * 1000;
      const left = [...processesOf(b.memlogd)].filter((pid) => !before.has(pid));
      if (r.status !== 0 || !accepts(query)) throw new Error(`${b.impl} -daemonize failed`);
      add(`${b.impl} -daemonize`, ms);
      for (const pid of left) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch { /* stopped with the other (SIGTERM to either stops both) */ }
      }
      await until(() => left.every((pid) => !fs.existsSync(`/proc/${pid}`)), `${b.impl}'s daemonized memlogd to stop`);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  const node = median(nodeMs.slice(4));
  rows.push({ path: 'node -e 0', impl: 'node', ms: Math.round(node) });
  for (const [k, v] of times) {
    const m = median(v.slice(4)); // the first runs page node in: not timed
    rows.push({ path: `memlogd ready (${k.split(' ')[1]})`, impl: k.split(' ')[0], ms: Math.round(m), 'vs node -e 0': `${m - node >= 0 ? '+' : ''}${Math.round(m - node)} ms` });
  }
}

async function rss(): Promise<void> {
  for (const b of impls) {
    const idle: number[] = [];
    const after: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const dir = tmp();
      const d = await startDaemon(b, dir);
      try {
        await sleep(500);
        idle.push(procStat(d.proc.pid!).rssMB);
        feedLines(d.log, 1_000_000);
        await holds(b, d.query, 5000);
        await sleep(500);
        after.push(procStat(d.proc.pid!).peakRssMB);
      } finally {
        await d.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    rows.push({ path: 'memlogd RSS idle / peak after 1M lines (MB)', impl: b.impl, 'MB': `${median(idle).toFixed(1)} / ${median(after).toFixed(1)}` });
  }
}

/** CPU per line at 10,000 lines/s, in 100-line writes every 10 ms, over 1 and over 100 pipes. */
async function lowrate(): Promise<void> {
  for (const sources of [1, 100]) {
    for (const b of impls) {
      const per: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const dir = tmp();
        const d = await startDaemon(b, dir);
        try {
          const lines = 50_000;
          const fds = Array.from({ length: sources }, (_, k) => [handOffPipe(d.log, `slow${k}.out`), k] as [number, number]);
          const start = new SharedArrayBuffer(4);
          // 10,000 lines/s in all, written 100 lines at a time (every 10 ms) to each pipe in turn
          const job: WriterJob = { fds, lines: Math.ceil(lines / sources), size: MSG, rate: 10_000, start, nice: 10, batch: 100 };
          const w = new Worker(path.join(HERE, 'writer.js'), { workerData: job });
          const c0 = procStat(d.proc.pid!).cpuSec;
          Atomics.store(new Int32Array(start), 0, 1);
          Atomics.notify(new Int32Array(start), 0);
          await new Promise((r) => w.once('exit', r));
          await sleep(300);
          per.push(((procStat(d.proc.pid!).cpuSec - c0) / lines) * 1e6);
          for (const [fd] of fds) native.close(fd);
        } finally {
          await d.stop();
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }
      rows.push({ path: `10,000 lines/s over ${sources} pipe${sources > 1 ? 's' : ''}: memlogd CPU per line`, impl: b.impl, 'µs/line': median(per).toFixed(1) });
    }
  }
}

const PARTS: Array<[string, () => Promise<void>]> = [
  ['logread', logreadDump], ['burst', burst], ['logwrite', logwrite], ['startup', startup], ['rss', rss], ['lowrate', lowrate],
];

async function main(): Promise<void> {
  for (const [name, fn] of PARTS) {
    if (only && !only.includes(name)) continue;
    process.stderr.write(`paths: ${name}...\n`);
    await fn();
  }
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  console.log(`| ${cols.join(' | ')} |\n|${cols.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${cols.map((c) => (r[c] === undefined || r[c] === null ? '' : typeof r[c] === 'number' ? (r[c] as number).toLocaleString('en') : r[c])).join(' | ')} |`);
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'paths.json'), JSON.stringify({ date: new Date().toISOString(), node: process.version, runs: RUNS, rows, results }, null, 2));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
