// npm run soak: the accounting workload (bench/workload.ts) with random seeds, run after run,
// for a bounded time. Each seed is printed before its run starts, so a failure (or a hang the
// timeout ends) can be replayed with --seed.
//
//   node dist/bench/soak.js [--minutes 10] [--seed N] [--scale N] [--restarts graceful|none] [--verbose]
//
// Exit status 0 when every run kept the identity, 1 otherwise.

import { runWorkload, summarize, type WorkloadReport } from './workload.js';

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const minutes = Number(opt('--minutes') ?? 10);
const fixedSeed = opt('--seed');
const fixedScale = opt('--scale');
const restarts = opt('--restarts') === 'none' ? 'none' : 'graceful';
const verbose = args.includes('--verbose');
if (!(minutes > 0) || (fixedSeed !== undefined && !/^\d+$/.test(fixedSeed))) {
  process.stderr.write('usage: soak [--minutes N] [--seed N] [--scale N] [--restarts graceful|none] [--verbose]\n');
  process.exit(2);
}

const t0 = Date.now();
const reports: WorkloadReport[] = [];
const failed: number[] = [];
for (let run = 1; ; run++) {
  if (fixedSeed === undefined && Date.now() - t0 > minutes * 60_000) break;
  if (fixedSeed !== undefined && run > 1) break;
  const seed = fixedSeed !== undefined ? Number(fixedSeed) : Math.floor(Math.random() * 2 ** 31);
  // the scale is drawn from the seed too, so --seed replays the same run
  const scale = fixedScale !== undefined ? Number(fixedScale) : 1 + (seed % 3);
  process.stdout.write(`run ${run}: seed ${seed}, scale ${scale}\n`);
  const r = await runWorkload({ seed, scale, restarts, note: verbose ? (m) => process.stdout.write(`  ${m}\n`) : undefined, timeoutMs: 600_000 });
  reports.push(r);
  process.stdout.write(`  ${summarize(r)}\n`);
  if (verbose) for (const x of r.readers) process.stdout.write(`    ${x.name}: ${x.expected} in its window = ${x.delivered} delivered + ${x.missed} missed (gaps: evicted ${x.gaps.evicted}, lagged ${x.gaps.lagged})\n`);
  if (r.failures.length) {
    failed.push(seed);
    for (const f of r.failures.slice(0, 30)) process.stdout.write(`  FAIL ${f}\n`);
    process.stdout.write(`  failing seed: ${seed} (replay: node dist/bench/soak.js --seed ${seed} --scale ${scale})\n`);
  }
}

const sum = (f: (r: WorkloadReport) => number) => reports.reduce((a, r) => a + f(r), 0);
const readers = sum((r) => r.readers.length);
const n = (x: number) => x.toLocaleString('en');
const byReason = (k: 'evicted' | 'lagged' | 'restarted') => sum((r) => r.readers.reduce((a, x) => a + x.gaps[k], 0));
process.stdout.write(`soak: ${reports.length} runs in ${((Date.now() - t0) / 60_000).toFixed(1)} min; seeds ${reports.map((r) => r.seed).join(', ')}\n`);
process.stdout.write(`soak: ${n(sum((r) => r.lines))} lines = ${n(sum((r) => r.entries))} entries written; ${readers} readers: `
  + `${n(sum((r) => r.readers.reduce((a, x) => a + x.delivered, 0)))} delivered, ${n(sum((r) => r.readers.reduce((a, x) => a + x.missed, 0)))} reported missed `
  + `in ${n(byReason('evicted') + byReason('lagged') + byReason('restarted'))} gaps (evicted ${n(byReason('evicted'))}, lagged ${n(byReason('lagged'))}, `
  + `restarted ${n(byReason('restarted'))}); ${sum((r) => r.restarts)} graceful restarts\n`);
process.stdout.write(`soak: ${failed.length} failed${failed.length ? `: seeds ${failed.join(', ')}` : ''}\n`);
process.exit(failed.length ? 1 : 0);
