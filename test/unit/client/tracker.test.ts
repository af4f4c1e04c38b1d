import { describe, expect, it } from 'vitest';
import { Tracker, type Out, type Step } from '../../../lib/client/tracker.js';
import { decodeEntry as fastEntry } from '../../../lib/protocol/v2.js';
import { jsonString, parseRecord, V2Encoder, type GapRecord, type V2Entry } from '../../../lib/protocol/index.js';
import { packPri } from '../../../lib/protocol/severity.js';

// stdout's default priority: info, facility unknown
const PRI = packPri(6, null);

const T = '2026-11-21T05:40:00.5Z';
const e = (seq: number, source: string, msg: string, partial = false): V2Entry =>
  ({ seq, time: T, source, stream: source.endsWith('.out') ? 'stdout' : 'stderr', msg, ...(partial ? { partial: true } : {}) });
const gap = (from: number, to: number, reason: GapRecord['reason'] = 'evicted', previous?: string): GapRecord =>
  ({ type: 'gap', from, to, count: reason === 'restarted' && to === 0 && from === 0 ? 0 : to - from + 1, reason, ...(previous ? { previous } : {}) });

/** Applies every step, returns what they write (source + text-ish summary). */
function run(steps: Step[]): Array<{ source: string; out: Out }> {
  const outs: Array<{ source: string; out: Out }> = [];
  for (const s of steps) {
    if (s.out) outs.push({ source: s.source, out: s.out });
    s.apply();
  }
  return outs;
}
const msgs = (outs: Array<{ out: Out }>) => outs.map(({ out }) => (out.kind === 'line' ? `${out.line.source}:${out.line.msg}` : `gap:${out.gap.reason}:${out.gap.from}-${out.gap.to}`));

describe('tracker', () => {
  const mk = (max = 1 << 20) => new Tracker({ maxLineBytes: max });

  it('starts from everything, reporting what memlogd evicted before it came', () => {
    const t = mk();
    expect(msgs(run(t.start({ type: 'start', instance: 'aa', oldest: 5, next: 9 }, false)))).toEqual(['gap:evicted:0-4']);
    expect(t.after).toEqual({ instance: 'aa', seq: 4 });
    expect(msgs(run(t.entry(e(5, 'svc', 'x'))))).toEqual(['svc:x']);
    expect(t.after).toEqual({ instance: 'aa', seq: 5 });
  });

  it('says whose the entries evicted before it came were, when memlogd says', () => {
    const outs = run(mk().start({ type: 'start', instance: 'aa', oldest: 5, next: 9, evicted: { web: 4, db: 1 } }, false));
    expect(outs[0].out).toMatchObject({ kind: 'gap', gap: { from: 0, to: 4, count: 5, sources: { web: 4, db: 1 } } });
  });

  it('writes each entry once, ignoring anything at or before the cursor', () => {
    const t = mk();
    run(t.start({ type: 'start', instance: 'aa', oldest: 0, next: 0 }, false));
    expect(msgs(run([0, 1, 2].flatMap((s) => t.entry(e(s, 'a', `m${s}`)))))).toEqual(['a:m0', 'a:m1', 'a:m2']);
    expect(msgs(run(t.entry(e(1, 'a', 'again'))))).toEqual([]);
    expect(t.duplicates).toBe(1);
    expect(run(t.gap(gap(0, 2)))).toEqual([]);
  });

  it('joins the pieces of a long line, across other sources, and keeps them in the position', () => {
    const t = mk();
    run(t.start({ type: 'start', instance: 'aa', oldest: 0, next: 0 }, false));
    expect(msgs(run(t.entry(e(0, 'long', 'AAA', true))))).toEqual([]);
    expect(msgs(run(t.entry(e(1, 'b', 'other'))))).toEqual(['b:other']);
    const pos = t.position();
    expect(pos.seq).toBe(1);
    expect(pos.pending).toEqual([{ source: 'long', time: T, firstSeq: 0, lastSeq: 0, pieces: 1, msg: 'AAA', bytes: 3 }]);
    run(t.entry(e(2, 'long', 'BBB', true)));
    const outs = run(t.entry(e(3, 'long', 'C')));
    expect(outs.map((o) => o.out)).toEqual([{ kind: 'line', line: { source: 'long', time: T, msg: 'AAABBBC', firstSeq: 0, lastSeq: 3, pieces: 3 } }]);
    expect(t.position().pending).toEqual([]);
    // a restart from the saved position finishes the same line
    const r = new Tracker({ maxLineBytes: 1 << 20 }, pos);
    run(r.entry(e(2, 'long', 'BBB', true)));
    expect(msgs(run(r.entry(e(3, 'long', 'C'))))).toEqual(['long:AAABBBC']);
  });

  it('cuts a joined line at the limit', () => {
    const t = mk(5);
    run(t.start({ type: 'start', instance: 'aa', oldest: 0, next: 0 }, false));
    run(t.entry(e(0, 'l', 'abc', true)));
    const outs = run(t.entry(e(1, 'l', 'def', true)));
    expect(outs.map((o) => o.out.kind === 'line' && [o.out.line.msg, o.out.line.cut])).toEqual([['abc', true]]);
    expect(msgs(run(t.entry(e(2, 'l', 'g'))))).toEqual(['l:defg']);
  });

  it('with overflow drop, keeps the beginning of a line over the limit and counts the bytes left out', () => {
    const t = new Tracker({ maxLineBytes: 5, overflow: 'drop' });
    run(t.start({ type: 'start', instance: 'aa', oldest: 0, next: 0 }, false));
    run(t.entry(e(0, 'l', 'abc', true)));
    run(t.entry(e(1, 'l', 'déf', true)));
    expect(t.position().pending).toMatchObject([{ msg: 'abcdé', bytes: 5, dropped: 1, pieces: 2 }]);
    run(t.entry(e(2, 'l', 'ghé', true)));
    const outs = run(t.entry(e(3, 'l', 'end')));
    expect(outs.map((o) => o.out)).toEqual([{ kind: 'line', line: {
      source: 'l', time: T, msg: 'abcdé', firstSeq: 0, lastSeq: 3, pieces: 4, cut: true, dropped: 1 + 4 + 3,
    } }]);
    // a single piece over the limit, and a surrogate pair at the cut
    expect(run(t.entry(e(4, 'l', 'abcdefgh'))).map((o) => o.out.kind === 'line' && [o.out.line.msg, o.out.line.dropped])).toEqual([['abcde', 3]]);
    expect(run(t.entry(e(5, 'l', 'abcd😀x'))).map((o) => o.out.kind === 'line' && [o.out.line.msg, o.out.line.dropped])).toEqual([['abcd', 5]]);
    expect(msgs(run(t.entry(e(6, 'l', 'short'))))).toEqual(['l:short']);
  });

  it('carries the severity and facility of the first piece into the joined line', () => {
    const t = mk();
    run(t.start({ type: 'start', instance: 'aa', oldest: 0, next: 0 }, false));
    run(t.entry({ ...e(0, 'l', 'a', true), severity: 2, facility: 16 }));
    const pos = t.position();
    const outs = run(t.entry({ ...e(1, 'l', 'b'), severity: 6 }));
    expect(outs[0].out).toMatchObject({ line: { msg: 'ab', severity: 2, facility: 16 } });
    const r = new Tracker({ maxLineBytes: 100 }, pos);
    expect(run(r.entry(e(1, 'l', 'b')))[0].out).toMatchObject({ line: { msg: 'ab', severity: 2, facility: 16 } });
  });

  it('writes a gap, cutting lines whose rest it may have taken', () => {
    const t = mk();
    run(t.start({ type: 'start', instance: 'aa', oldest: 0, next: 0 }, false));
    run(t.entry(e(0, 'l', 'abc', true)));
    expect(msgs(run(t.gap(gap(1, 10, 'lagged'))))).toEqual(['l:abc', 'gap:lagged:1-10']);
    expect(t.after).toEqual({ instance: 'aa', seq: 10 });
  });

  it('notices a hole the server did not report', () => {
    const t = mk();
    run(t.start({ type: 'start', instance: 'aa', oldest: 0, next: 0 }, false));
    run(t.entry(e(0, 'a', 'x')));
    expect(msgs(run(t.entry(e(5, 'a', 'y'))))).toEqual(['gap:evicted:1-4', 'a:y']);
    expect(t.unreported).toBe(4);
  });

  it('with a filtered request, a hole in the sequence is what did not match, not a loss', () => {
    const t = new Tracker({ maxLineBytes: 100, filtered: true });
    run(t.start({ type: 'start', instance: 'aa', oldest: 0, next: 0 }, false));
    run(t.entry(e(0, 'a', 'x')));
    expect(msgs(run(t.entry(e(5, 'a', 'y'))))).toEqual(['a:y']);
    expect(t.unreported).toBe(0);
    expect(run(t.end(9))).toEqual([]);
    expect(t.after).toEqual({ instance: 'aa', seq: 5 });
  });

  it('follows memlogd into a new instance with a restarted gap', () => {
    const t = new Tracker({ maxLineBytes: 100 }, { instance: 'aa', seq: 41, pending: [{ source: 'l', time: T, firstSeq: 40, lastSeq: 40, pieces: 1, msg: 'half', bytes: 4 }] });
    expect(t.after).toEqual({ instance: 'aa', seq: 41 });
    expect(run(t.start({ type: 'start', instance: 'bb', oldest: 3, next: 9 }, true))).toEqual([]);
    // the position stays on the old cursor until the gap is written
    expect(t.after).toEqual({ instance: 'aa', seq: 41 });
    const outs = run(t.gap(gap(0, 2, 'restarted', 'aa:41')));
    expect(msgs(outs)).toEqual(['l:half', 'gap:restarted:0-2']);
    expect(outs[1].out).toMatchObject({ instance: 'bb', gap: { previous: 'aa:41' } });
    expect(t.after).toEqual({ instance: 'bb', seq: 2 });
    expect(msgs(run(t.entry(e(3, 'a', 'new'))))).toEqual(['a:new']);
  });

  it('writes the restart itself when the server sends no restarted gap', () => {
    const t = new Tracker({ maxLineBytes: 100 }, { instance: 'aa', seq: 41, pending: [] });
    run(t.start({ type: 'start', instance: 'bb', oldest: 0, next: 2 }, true));
    const outs = run(t.entry(e(0, 'a', 'new')));
    expect(msgs(outs)).toEqual(['gap:restarted:0-0', 'a:new']);
    expect(outs[0].out).toMatchObject({ note: expect.stringContaining('no restarted gap') });
    expect(t.after).toEqual({ instance: 'bb', seq: 0 });
  });

  it('a record planned again after some of its steps were applied yields the rest', () => {
    const t = mk(4);
    run(t.start({ type: 'start', instance: 'aa', oldest: 0, next: 0 }, false));
    run(t.entry(e(0, 'a', 'aa', true)));
    run(t.entry(e(1, 'b', 'bb', true)));
    run(t.entry(e(2, 'c', 'cc', true)));
    const steps = t.gap(gap(3, 4));
    expect(steps.length).toBe(4);
    const snap = t.snapshot();
    run(steps.slice(0, 2));
    const rest = t.gap(gap(3, 4));
    expect(msgs(run(rest))).toEqual(['c:cc', 'gap:evicted:3-4']);
    // and a rollback returns exactly to the snapshot
    t.restore(snap);
    expect(t.position().pending.map((p) => p.source)).toEqual(['a', 'b', 'c']);
    expect(t.after).toEqual({ instance: 'aa', seq: 2 });
  });
});

describe('fast entry reader', () => {
  it('reads what memlogd writes exactly as JSON.parse does, or leaves it to parseRecord', () => {
    const enc = new V2Encoder();
    const msgs = ['hello', '', 'say "hi"', 'back\\slash', 'tab\there', 'html <a>&</a>', 'unicode é€ \u2028', 'ends with quote"', '\x01ctrl',
      Buffer.from([0xff, 0x41]).toString('latin1'), '"}', '","partial":true}'];
    const sources = ['svc.out', 'svc', 'semi;colon', 'quo"te', '', 'a\\b', 'é'];
    let fast = 0;
    for (const m of msgs) {
      for (const s of sources) {
        for (const partial of [false, true]) {
          const out = Buffer.alloc(4096);
          const msg = Buffer.from(m, m.startsWith('\xff') ? 'latin1' : 'utf8');
          const n = enc.encode(out, 0, 12345, 1_763_703_600, 5, jsonString(Buffer.from(s)), s.endsWith('.out'), msg, 0, msg.length, partial, PRI);
          const line = out.toString('utf8', 0, n - 1);
          const f = fastEntry(line);
          if (f) fast++;
          expect(f ?? parseRecord(line), line).toEqual(JSON.parse(line));
        }
      }
    }
    expect(fast).toBeGreaterThanOrEqual(10);
    for (const other of ['{"type":"start","instance":"ab","oldest":0,"next":1}', '{"type":"gap","from":1,"to":2,"count":2,"reason":"lagged"}',
      '{"seq":1,"time":"t","source":"s","msg":"m","stream":"stdout"}', '{"seq":x}']) {
      expect(fastEntry(other)).toBeNull();
    }
  });
});
