// What an idle source costs memlogd: N pipes handed over under N names, nothing written, RSS
// (VmRSS) before and after, per source. The read ends are all held by memlogd; this process
// keeps the write ends, so N must fit under this process's fd limit too.
//
//   node dist/bench/idle-rss.js [--sources N] [--node-args '--max-semi-space-size=1']
//   (N defaults to 10000; BENCH_MEMLOGD measures another build, as in run.ts)

import fs from 'node:fs';
import { sendFds } from '../lib/client/handoff.js';
import * as native from '../lib/native/index.js';
import { ours, startDaemon, until } from './daemons.js';
import { fdCount, procStat } from './proc.js';

const args = process.argv.slice(2);
const opt = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const n = Number(opt('--sources') ?? 10_000);
const nodeArgs = opt('--node-args')?.split(' ').filter(Boolean) ?? [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dir = fs.mkdtempSync('/tmp/ml-rss-');
const d = await startDaemon(ours(), dir, [], nodeArgs);
const pid = d.proc.pid!;
const writers: number[] = [];
try {
  await sleep(2000);
  const fds0 = fdCount(pid);
  const before = procStat(pid).rssMB;
  for (let i = 0; i < n; i++) {
    const [r, w] = native.pipe();
    sendFds(d.log, `idle-${i}`, [r]);
    native.close(r);
    writers.push(w);
  }
  await until(() => fdCount(pid) >= fds0 + n, `memlogd to hold ${n} pipes`, 120_000);
  // Let memlogd settle before reading its resident set: V8 shrinks a heap that grew during the
  // burst of hand-offs only once it sees it idle (its memory reducer runs ~8 s after a GC).
  const samples: string[] = [];
  for (let t = 0; t < 5; t++) {
    await sleep(4000);
    samples.push(procStat(pid).rssMB.toFixed(1));
  }
  const after = procStat(pid).rssMB;
  const per = ((after - before) * 1024 * 1024) / n;
  process.stdout.write(`${process.env.BENCH_MEMLOGD ?? 'dist/cmd/memlogd.js'} ${nodeArgs.join(' ')}: ${n} idle sources, RSS ${before.toFixed(1)} MB -> ` +
    `${after.toFixed(1)} MB, ${Math.round(per)} bytes per idle source (RSS every 4 s: ${samples.join(', ')})\n`);
} finally {
  for (const w of writers) native.close(w);
  await d.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
