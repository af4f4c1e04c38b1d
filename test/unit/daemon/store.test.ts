import { describe, expect, it } from 'vitest';
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

  it('matches a simple model under random load (compaction keeps bytes and order)', () => {
    const st = new Store({ maxLines: 37, maxBytes: 500, slack: 13 });
    const ids = [0, 1, 2, 3].map((i) => st.source(Buffer.from(`s${i}`)));
    const model: Array<{ seq: number; src: number; msg: string }> = [];
    let seed = 1;
    const rnd = () => (seed = (seed * 48271) % 2147483647);
    // a reader somewhere behind: compaction keeps some dead entries for it
    st.setRetention({ retainFrom: () => Math.max(0, st.nextSeq - (rnd() % 60)) });
    for (let i = 0; i < 20000; i++) {
      const src = ids[rnd() % (1 + (rnd() % 4))];
      const msg = String.fromCharCode(97 + (i % 26)).repeat(rnd() % 40) + i;
      const seq = add(st, src, msg);
      model.push({ seq, src, msg });
      expect(st.lines <= 37 && st.bytes <= 500).toBe(true);
      if (i % 41 !== 0) continue;
      const have = live(st);
      // every live entry is byte-identical to what was appended with that seq
      expect(have).toEqual(have.map((e) => model[e.seq]));
      expect(st.lines).toBe(have.length);
      expect(have.map((e) => e.seq)).toEqual([...have.map((e) => e.seq)].sort((x, y) => x - y));
      // dead entries still present are intact too, and everything is in sequence order
      for (let p = 0; p < st.end; p++) {
        const m = model[st.seqs[p]];
        expect(st.arena.toString('latin1', st.offs[p], st.offs[p] + st.lens[p])).toBe(m.msg);
        if (p > 0) expect(st.seqs[p]).toBeGreaterThan(st.seqs[p - 1]);
      }
    }
    expect(st.generation).toBeGreaterThan(0);
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

  it('rejects nonsense bounds with a code', () => {
    expect(() => new Store({ maxLines: 0, maxBytes: 10 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });
});
