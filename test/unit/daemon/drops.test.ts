// The drop log against a model that remembers the source of every dropped sequence number.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DropLog, UNKNOWN_SOURCE } from '../../../lib/daemon/drops.js';

type Counts = Map<number, number>;

function visit(log: DropLog, from: number, to: number): Counts {
  const m: Counts = new Map();
  let bad = 0;
  log.each(from, to, (src, n) => {
    if (!(n > 0)) bad++;
    m.set(src, (m.get(src) ?? 0) + n);
  });
  expect(bad).toBe(0);
  return m;
}

function modelCounts(dropped: Map<number, number>, from: number, to: number): Counts {
  const m: Counts = new Map();
  for (let s = from; s <= to; s++) {
    const src = dropped.get(s);
    if (src !== undefined) m.set(src, (m.get(src) ?? 0) + 1);
  }
  return m;
}

const total = (m: Counts) => [...m.values()].reduce((a, b) => a + b, 0);

/**
 * A history: N entries from a few sources (in runs, as chunks arrive), dropped by several
 * compactions, each dropping a random subset of what is left in increasing order.
 */
const history = fc.record({
  n: fc.integer({ min: 1, max: 400 }),
  sources: fc.integer({ min: 1, max: 6 }),
  runs: fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 200 }),
  srcOf: fc.array(fc.nat(), { minLength: 1, maxLength: 200 }),
  // each compaction drops what is left with a probability (in %), decided by a hash of (seq, salt)
  compactions: fc.array(fc.tuple(fc.integer({ min: 0, max: 100 }), fc.nat()), { minLength: 1, maxLength: 6 }),
  cuts: fc.array(fc.nat(400), { maxLength: 5 }),
  budget: fc.integer({ min: 16, max: 200 }),
  queries: fc.array(fc.tuple(fc.nat(420), fc.nat(60)), { minLength: 1, maxLength: 30 }),
});

describe('DropLog', () => {
  it('attributes every dropped entry to its source; exact at cuts and at the edges of what was dropped', () => {
    fc.assert(fc.property(history, (h) => {
      // entry i's source: runs of the same source, as a pipe delivers chunks
      const src: number[] = [];
      for (let r = 0; src.length < h.n; r++) {
        const s = h.srcOf[r % h.srcOf.length] % h.sources;
        for (let k = 0; k < h.runs[r % h.runs.length] && src.length < h.n; k++) src.push(s);
      }
      const log = new DropLog(h.budget);
      const dropped = new Map<number, number>();
      for (const [pct, salt] of h.compactions) {
        for (let seq = 0; seq < h.n; seq++) {
          if (dropped.has(seq) || ((Math.imul(seq + 1, 2654435761) ^ salt) >>> 0) % 100 >= pct) continue;
          dropped.set(seq, src[seq]);
          log.add(seq, src[seq]);
        }
        log.commit(() => h.cuts);
      }
      // a boundary is safe when a cut is there or it is the edge of a dropped stretch
      const safe = (x: number) => h.cuts.includes(x) || !dropped.has(x) || !dropped.has(x - 1);
      const edges = [...new Set([0, h.n, ...h.cuts, ...[...dropped.keys()].filter((s) => !dropped.has(s - 1)), ...[...dropped.keys()].filter((s) => !dropped.has(s + 1)).map((s) => s + 1)])]
        .sort((x, y) => x - y);
      const some = edges.filter((_, k) => k % Math.ceil(edges.length / 20) === 0);
      const ranges = [...h.queries.map(([a, len]) => [a, a + len] as const),
        ...some.flatMap((a) => { const k = edges.indexOf(a); return [edges[k + 1], edges[k + 5], h.n].filter((b) => b > a).map((b) => [a, b - 1] as const); })];
      for (const [a, b] of ranges) {
        const got = visit(log, a, b);
        const want = modelCounts(dropped, a, b);
        // whatever is known, the total is always right
        expect(total(got)).toBe(total(want));
        if (!got.has(UNKNOWN_SOURCE)) expect(got).toEqual(want);
        else {
          // known parts never overstate a source
          for (const [s, n] of got) if (s !== UNKNOWN_SOURCE) expect(n).toBeLessThanOrEqual(want.get(s) ?? 0);
        }
        // it forgets only what it had to: unless groups were given up, ranges with safe boundaries are exact
        if (log.coarsened === 0 || (log.forgotten === 0 && safe(a) && safe(b + 1))) expect(got).toEqual(want);
      }
      // bounded: within budget, or one entry per stretch when even that is more
      const stretches = [...dropped.keys()].filter((s) => !dropped.has(s - 1) || h.cuts.includes(s)).length;
      expect(log.size).toBeLessThanOrEqual(Math.max(h.budget, stretches + h.cuts.length));
    }), { numRuns: 300, seed: 31 });
  });

  it('with room to summarize by source, ranges between cuts stay exact', () => {
    const log = new DropLog(20);
    const dropped = new Map<number, number>();
    // 3 sources interleaved one entry at a time: 300 runs of 1, far over budget
    for (let seq = 0; seq < 300; seq++) {
      dropped.set(seq, seq % 3);
      log.add(seq, seq % 3);
    }
    const cuts = [100, 250];
    log.commit(() => cuts);
    expect(log.coarsened).toBe(1);
    expect(log.forgotten).toBe(0);
    expect(log.size).toBeLessThanOrEqual(10);
    for (const [a, b] of [[0, 99], [100, 249], [250, 299], [0, 299], [100, 299]]) expect(visit(log, a, b)).toEqual(modelCounts(dropped, a, b));
    // inside a summarized stretch only the total is known
    expect(visit(log, 10, 20)).toEqual(new Map([[UNKNOWN_SOURCE, 11]]));
  });

  it('a flooding source is one run however much it lost', () => {
    const log = new DropLog(16);
    for (let c = 0; c < 50; c++) {
      for (let seq = c * 1000; seq < (c + 1) * 1000; seq++) log.add(seq, 7);
      log.commit(() => []);
    }
    expect(log.size).toBe(1);
    expect(visit(log, 12_345, 23_456)).toEqual(new Map([[7, 11_112]]));
  });
});
