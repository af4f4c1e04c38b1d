// Exact accounting with real processes (bench/workload.ts): a real memlogd with a small store,
// pipes handed over as init does, v1 and v2 query clients, fast, slow and stalled. For every
// reader and every source: entries written in its window = entries delivered + entries its gap
// records said were that source's. Fixed seeds here; `npm run soak` runs random ones.

import { expect, it } from 'vitest';
import { runWorkload, summarize, type WorkloadReport } from '../../bench/workload.js';

const reports: WorkloadReport[] = [];

// Two seeds that draw different stores (50 lines / 64 KiB, 200 lines / 64 KiB), several sources
// with one or two pipes, long lines, v1 and v2 readers of every mode, filters, late readers.
it.each([3, 8])('seed %i: every reader accounts for every entry of every source', async (seed) => {
  const r = await runWorkload({ seed, scale: 1, timeoutMs: 240_000 });
  reports.push(r);
  expect(r.failures, summarize(r)).toEqual([]);
  expect(r.readers.length).toBeGreaterThanOrEqual(8);
  // late dumps always find history evicted by the small store
  expect(r.readers.some((x) => x.gaps.evicted > 0), summarize(r)).toBe(true);
}, 300_000);

it('the seeds exercise lagged gaps: a reader stalled through a phase falls behind what memlogd retains', () => {
  // Deterministic: the stalled reader holds what its socket buffers take (memlogd asks for 2 MiB),
  // memlogd keeps ~49,000 entries or ~768 KiB beyond its bounds for it, and the first phase of
  // each seed writes more than both.
  expect(reports).toHaveLength(2);
  const lagged = reports.reduce((n, r) => n + r.readers.reduce((a, x) => a + x.gaps.lagged, 0), 0);
  expect(lagged, reports.map(summarize).join('\n')).toBeGreaterThan(0);
});
