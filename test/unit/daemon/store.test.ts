import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UNKNOWN_SOURCE } from '../../../lib/daemon/drops.js';
import { DEAD, Store } from '../../../lib/daemon/store.js';
import { packPri } from '../../../lib/protocol/severity.js';

// stdout's default priority: info, facility unknown
const PRI = packPri(6, null);

function live(st: Store): Array<{ seq: number; src: number; msg: string }> {
  const out = [];
  for (let p = st.start; p < st.end; p++) {
    if (st.flags[p] & DEAD) continue;
    out.push({ seq: st.seqs[p], src: st.srcs[p], msg: st.arena.toString('latin1', st.offs[p], st.offs[p] + st.lens[p]) });
  }
  return out;
}

const add = (st: Store, src: number, msg: string) => {
  const b = Buffer.from(msg, 'latin1');
  return st.append(src, b, 0, b.length, 1, 0, 0, PRI);
};

describe('Store', () => {
  it('numbers entries from 0 and keeps them in order', () => {
    const st = new Store({ maxLines: 10, maxBytes: 1000 });
    const a = st.source(Buffer.from('a'));
    expect(add(st, a, 'one')).toBe(0);
    expect(add(st, a, 'two')).toBe(1);
    expect(live(st).map((e) => e.msg)).toEqual(['one', 'two']);
    expect(st.oldestSeq).toBe(0);
    expect(st.nextSeq).toBe(2);
  });

  it('is bounded by lines: a single source behaves like a ring', () => {
    const st = new Store({ maxLines: 5, maxBytes: 1000 });
    const a = st.source(Buffer.from('a'));
    for (let i = 0; i < 100; i++) add(st, a, `m${i}`);
    expect(live(st).map((e) => e.msg)).toEqual(['m95', 'm96', 'm97', 'm98', 'm99']);
    expect(st.lines).toBe(5);
    expect(st.evicted).toBe(95);
    expect(st.sources[a].evicted).toBe(95);
  });

  it('is bounded by bytes', () => {
    const st = new Store({ maxLines: 1000, maxBytes: 100 });
    const a = st.source(Buffer.from('a'));
    for (let i = 0; i < 50; i++) add(st, a, 'x'.repeat(30));
    expect(st.bytes).toBeLessThanOrEqual(100);
    expect(st.lines).toBe(3);
  });

  it('evicts from the source holding the most: a quiet source keeps its lines', () => {
    const st = new Store({ maxLines: 100, maxBytes: 1 << 20 });
    const quiet = st.source(Buffer.from('quiet'));
    const noisy = st.source(Buffer.from('noisy'));
    for (let i = 0; i < 10; i++) {
      add(st, quiet, `quiet ${i}`);
      for (let j = 0; j < 1000; j++) add(st, noisy, `noisy ${i}.${j}`);
    }
    const q = live(st).filter((e) => e.src === quiet).map((e) => e.msg);
    expect(q).toEqual(Array.from({ length: 10 }, (_, i) => `quiet ${i}`));
    expect(st.lines).toBe(100);
    expect(st.sources[quiet].evicted).toBe(0);
    // sequence order survives eviction from the middle and compaction
    const seqs = live(st).map((e) => e.seq);
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
  });

  it('appendBatch stores the same entries as append, and stays fair', () => {
    const a = new Store({ maxLines: 200, maxBytes: 100_000 });
    const b = new Store({ maxLines: 200, maxBytes: 100_000 });
    const [qa, na] = [a.source(Buffer.from('q')), a.source(Buffer.from('n'))];
    const [qb, nb] = [b.source(Buffer.from('q')), b.source(Buffer.from('n'))];
    for (let round = 0; round < 300; round++) {
      const lines = Array.from({ length: 40 }, (_, i) => `r${round} l${i}`);
      const chunk = Buffer.from(lines.join('\r\n') + '\n');
      const starts = new Int32Array(40);
      const ends = new Int32Array(40);
      let pos = 0;
      lines.forEach((l, i) => {
        starts[i] = pos;
        ends[i] = pos + l.length;
        pos += l.length + 2;
      });
      a.appendBatch(na, chunk, starts, ends, new Uint8Array(40), 40, round, 0, PRI);
      for (let i = 0; i < 40; i++) b.append(nb, chunk, starts[i], ends[i], round, 0, 0, PRI);
      if (round % 30 === 0) {
        add(a, qa, `quiet ${round}`);
        add(b, qb, `quiet ${round}`);
      }
    }
    expect(live(a)).toEqual(live(b));
    expect(live(a).filter((e) => e.src === qa)).toHaveLength(10);
  });

  it('finds positions by sequence number', () => {
    const st = new Store({ maxLines: 10, maxBytes: 1000 });
    const a = st.source(Buffer.from('a'));
    for (let i = 0; i < 25; i++) add(st, a, `m${i}`);
    expect(st.seqs[st.lowerBound(20)]).toBe(20);
    expect(st.oldestSeq).toBe(15);
    expect(st.seqs[st.start]).toBe(15);
    expect(st.lowerBound(99)).toBe(st.end);
  });

  it('keeps evicted entries a reader still wants through compaction, within budget', () => {
    const st = new Store({ maxLines: 10, maxBytes: 10_000, slack: 20 });
    const a = st.source(Buffer.from('a'));
    let wanted = 0;
    st.setRetention({ retainFrom: () => wanted });
    for (let i = 0; i < 25; i++) add(st, a, `m${i}`);
    // a compaction happened (capacity 30 filled) but seq 0.. were kept as the reader wants them
    expect(st.lines).toBe(10);
    const present = (seq: number) => {
      const p = st.lowerBound(seq);
      return p < st.end && st.seqs[p] === seq;
    };
    expect(present(0) || present(5)).toBe(true);
    // the reader moves on: the next compaction drops what it no longer needs
    wanted = 24;
    for (let i = 25; i < 200; i++) add(st, a, `m${i}`);
    expect(present(5)).toBe(false);
    expect(live(st).map((e) => e.msg)).toEqual(Array.from({ length: 10 }, (_, i) => `m${190 + i}`));
    // a reader that never moves cannot stop progress: the store stays bounded
    wanted = 0;
    for (let i = 200; i < 2000; i++) add(st, a, `m${i}`);
    expect(st.end).toBeLessThanOrEqual(st.capacity);
    expect(st.lines).toBe(10);
  });

  it('a snapshot carries whose the dropped entries were to the restored store (graceful restart)', () => {
    const st = new Store({ maxLines: 10, maxBytes: 10_000, slack: 10 });
    const [a, b] = [st.source(Buffer.from('a')), st.source(Buffer.from('b'))];
    for (let i = 0; i < 200; i++) add(st, i % 3 === 0 ? a : b, `m${i}`);
    expect(st.drops.size).toBeGreaterThan(0);
    const whose = (x: Store) => {
      const m = new Map<number, number>();
      x.dropped(0, x.nextSeq - 1, (src, n) => m.set(src, (m.get(src) ?? 0) + n));
      return m;
    };
    const { meta, blobs } = st.snapshot();
    // through JSON and copied buffers, as the hand-over carries them
    const back = Store.restore(JSON.parse(JSON.stringify(meta)), blobs.map((x) => Buffer.from(x)));
    expect(whose(back)).toEqual(whose(st));
    expect([...whose(st).values()].reduce((x, y) => x + y, 0)).toBe(st.nextSeq - st.end);
    // a predecessor without a drop log (its snapshot has no such blobs): nothing is attributed
    expect(whose(Store.restore(JSON.parse(JSON.stringify(meta)), blobs.slice(0, 9))).size).toBe(0);
  });

  it('rejects nonsense bounds with a code', () => {
    expect(() => new Store({ maxLines: 0, maxBytes: 10 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });
});

// The store against a simple array model: every entry ever appended, live or evicted, and whether
// it is still in memory. The model does not choose which source to evict from (ties between
// sources holding the same amount may go either way); it checks that the store's choices were
// fair: replaying its bounds loops, each eviction it made must have been from a source holding
// the most at that moment, and from that source's oldest live entry.
describe('Store against a model (fast-check)', () => {
  interface M { seq: number; src: number; msg: string; live: boolean }
  const op = fc.record({
    src: fc.nat(4),
    lines: fc.array(fc.string({ unit: fc.constantFrom('a', 'b', 'é', '\u2028'), maxLength: 30 }), { minLength: 1, maxLength: 12 }),
    batch: fc.boolean(),
    // where a follower is: how far behind the newest (compaction keeps what it has not read)
    behind: fc.nat(80),
  });
  const params = fc.record({
    maxLines: fc.integer({ min: 1, max: 40 }),
    maxBytes: fc.integer({ min: 100, max: 600 }),
    slack: fc.integer({ min: 1, max: 30 }),
    dropBudget: fc.integer({ min: 16, max: 400 }),
    ops: fc.array(op, { minLength: 1, maxLength: 120 }),
  });

  it('bounds, fair eviction, order, sequence numbers, and whose entries were dropped', () => {
    fc.assert(fc.property(params, (p) => {
      const st = new Store({ maxLines: p.maxLines, maxBytes: p.maxBytes, slack: p.slack, dropBudget: p.dropBudget });
      const ids = [0, 1, 2, 3, 4].map((i) => st.source(Buffer.from(`s${i}`)));
      const model: M[] = [];
      let reader = 0;
      st.setRetention({ retainFrom: () => reader, cuts: () => [reader] });
      const count = (src: number, f: (e: M) => number) => model.filter((e) => e.live && e.src === src).reduce((n, e) => n + f(e), 0);

      for (const o of p.ops) {
        reader = Math.max(reader, st.nextSeq - o.behind);
        const msgs = o.lines.map((l) => Buffer.from(l)).filter((b) => b.length <= p.maxBytes);
        if (msgs.length === 0) continue;
        const src = ids[o.src];
        const wasLive = model.filter((e) => e.live);
        const bytesOf = (e: M) => Buffer.byteLength(e.msg);
        // the store's own rule for a batch: large against the bounds, it goes line by line
        const joined = Buffer.concat(msgs.flatMap((m) => [m, Buffer.from('\n')]));
        const oneByOne = !o.batch || msgs.length * 4 > p.maxLines || joined.length * 4 > p.maxBytes;
        const seq0 = st.nextSeq;
        if (o.batch) {
          const starts = new Int32Array(msgs.length);
          const ends = new Int32Array(msgs.length);
          let at = 0;
          msgs.forEach((m, i) => {
            starts[i] = at;
            ends[i] = at + m.length;
            at += m.length + 1;
          });
          st.appendBatch(src, joined, starts, ends, new Uint8Array(msgs.length), msgs.length, 5, 0, 6);
        } else for (const m of msgs) expect(st.append(src, m, 0, m.length, 5, 0, 0, 6)).toBe(st.nextSeq - 1);
        // sequence numbers: one per entry, in order
        expect(st.nextSeq).toBe(seq0 + msgs.length);
        expect(model.length).toBe(seq0);

        // What the store evicted: live in the model, now dead or gone.
        const present = new Map<number, number>();
        for (let q = 0; q < st.end; q++) present.set(st.seqs[q], q);
        const evicted = new Map<number, number>(); // source -> how many
        const gone = (seq: number) => {
          const q = present.get(seq);
          return q === undefined || st.isDead(q);
        };
        for (const e of wasLive) if (gone(e.seq)) evicted.set(e.src, (evicted.get(e.src) ?? 0) + 1);
        // entries of this very operation may have been evicted by its later lines
        for (let seq = seq0; seq < st.nextSeq; seq++) if (gone(seq)) evicted.set(src, (evicted.get(src) ?? 0) + 1);
        // Replay the bounds loops, trying every source that holds the most when several do: the
        // store's evictions must be one of the fair sequences, each from a source's oldest live entry.
        const queue = new Map<number, M[]>(ids.map((i) => [i, model.filter((e) => e.live && e.src === i)]));
        const taken = new Map<number, number>(ids.map((i) => [i, 0])); // evicted so far, from the front
        const live = new Map<number, number>(ids.map((i) => [i, count(i, () => 1)]));
        const bytes = new Map<number, number>(ids.map((i) => [i, count(i, bytesOf)]));
        const sum = (by: Map<number, number>) => [...by.values()].reduce((a, b) => a + b, 0);
        // the operation as steps: 'L' evict while over the line bound, 'B' over the byte bound, then add
        type Step = { kind: 'L'; n: number } | { kind: 'B'; len: number } | { kind: 'add'; ms: Buffer[] };
        const steps: Step[] = oneByOne
          ? msgs.flatMap((m): Step[] => [{ kind: 'L', n: 1 }, { kind: 'B', len: m.length }, { kind: 'add', ms: [m] }])
          : [{ kind: 'L', n: msgs.length }, { kind: 'B', len: msgs.reduce((n, m) => n + m.length, 0) }, { kind: 'add', ms: msgs }];
        const shift = (s: number, d: number, e: M) => {
          taken.set(s, taken.get(s)! + d);
          live.set(s, live.get(s)! - d);
          bytes.set(s, bytes.get(s)! - d * bytesOf(e));
        };
        const fair = (k: number): boolean => {
          if (k === steps.length) return ids.every((i) => taken.get(i) === (evicted.get(i) ?? 0));
          const st1 = steps[k];
          if (st1.kind === 'add') {
            const q = queue.get(src)!;
            const grow = (d: number) => {
              live.set(src, live.get(src)! + d * st1.ms.length);
              bytes.set(src, bytes.get(src)! + d * st1.ms.reduce((n, m) => n + m.length, 0));
            };
            q.push(...st1.ms.map((m) => ({ seq: -1, src, msg: m.toString(), live: true })));
            grow(1);
            const ok = fair(k + 1);
            q.length -= st1.ms.length;
            grow(-1);
            return ok;
          }
          const by = st1.kind === 'L' ? live : bytes;
          const over = st1.kind === 'L' ? sum(live) + st1.n > p.maxLines : sum(bytes) + st1.len > p.maxBytes;
          if (!over) return fair(k + 1);
          const most = Math.max(...by.values());
          for (const i of ids) {
            if (by.get(i) !== most || taken.get(i)! >= (evicted.get(i) ?? 0)) continue;
            const e = queue.get(i)![taken.get(i)!];
            shift(i, 1, e);
            const ok = fair(k); // the same loop goes on
            shift(i, -1, e);
            if (ok) return true;
          }
          return false;
        };
        expect(fair(0), `op ${JSON.stringify(o)}: evictions ${JSON.stringify([...evicted])} are not a fair sequence`).toBe(true);
        for (const e of model) if (e.live && gone(e.seq)) e.live = false;
        for (let seq = seq0; seq < st.nextSeq; seq++) model.push({ seq, src, msg: msgs[seq - seq0].toString(), live: !gone(seq) });
        // the store evicts a source's oldest live entries first
        for (const i of ids) {
          const ofSource = model.filter((e) => e.src === i);
          const firstLive = ofSource.findIndex((e) => e.live);
          if (firstLive >= 0) expect(ofSource.slice(firstLive).every((e) => e.live)).toBe(true);
        }

        // The store matches the model: counts, bounds, every entry still in memory byte for byte.
        expect(st.lines).toBe(model.filter((e) => e.live).length);
        expect(st.lines).toBeLessThanOrEqual(p.maxLines);
        expect(st.bytes).toBeLessThanOrEqual(p.maxBytes);
        expect(st.oldestSeq).toBe(model.find((e) => e.live)?.seq ?? st.nextSeq);
        for (let q = 0; q < st.end; q++) {
          const e = model[st.seqs[q]];
          expect(st.arena.toString('utf8', st.offs[q], st.offs[q] + st.lens[q])).toBe(e.msg);
          expect(st.srcs[q]).toBe(e.src);
          expect(st.isDead(q)).toBe(!e.live);
          if (q > 0) expect(st.seqs[q]).toBeGreaterThan(st.seqs[q - 1]);
        }
        // live entries are never dropped
        for (const e of model) if (e.live) expect(present.has(e.seq)).toBe(true);
        expect(st.end).toBeLessThanOrEqual(st.capacity);
      }

      // Whose entries were dropped: the totals are always right; per source exactly, unless the
      // drop log had to forget (then the forgotten part is UNKNOWN, never a wrong source).
      const present = new Set<number>();
      for (let q = 0; q < st.end; q++) present.add(st.seqs[q]);
      const check = (from: number, to: number, got: Map<number, number>, want: Map<number, number>) => {
        const total = (m: Map<number, number>) => [...m.values()].reduce((a, b) => a + b, 0);
        expect(total(got), `${from}-${to}`).toBe(total(want));
        if (!got.has(UNKNOWN_SOURCE)) expect(got).toEqual(want);
        for (const [s, n] of got) if (s !== UNKNOWN_SOURCE) expect(n).toBeLessThanOrEqual(want.get(s) ?? 0);
      };
      const collect = (f: (v: (s: number, n: number) => void) => void) => {
        const m = new Map<number, number>();
        f((s, n) => m.set(s, (m.get(s) ?? 0) + n));
        return m;
      };
      const want = (pred: (e: M) => boolean) => {
        const m = new Map<number, number>();
        for (const e of model) if (pred(e)) m.set(e.src, (m.get(e.src) ?? 0) + 1);
        return m;
      };
      // between every two entries still in memory (what a reader walking the store asks), and all of it
      const kept = [-1, ...[...present].sort((a, b) => a - b), st.nextSeq];
      for (let k = 0; k + 1 < kept.length; k++) {
        const [a, b] = [kept[k] + 1, kept[k + 1] - 1];
        if (a > b) continue;
        const got = collect((v) => st.dropped(a, b, v));
        check(a, b, got, want((e) => e.seq >= a && e.seq <= b));
        // these boundaries are entries in memory: only a log that gave up groups can be unsure here
        if (st.drops.forgotten === 0) expect(got.has(UNKNOWN_SOURCE)).toBe(false);
      }
      check(0, st.nextSeq - 1, collect((v) => st.dropped(0, st.nextSeq - 1, v)), want((e) => !present.has(e.seq)));
      // everything before the oldest live entry was evicted
      const oldest = st.oldestSeq;
      check(0, oldest - 1, collect((v) => st.evictedBefore(oldest, v)), want((e) => e.seq < oldest));
    }), { numRuns: 200, seed: 41 });
  });
});
