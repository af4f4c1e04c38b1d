// The reader (a follower's cursor into the store) through its Sink seam: what it writes, how it
// waits for a full socket, and the gaps it reports. No sockets: the sink is a test double of the
// three calls a connection answers.
import { describe, expect, it } from 'vitest';
import { Filter } from '../../../lib/daemon/filter.js';
import { NameCache } from '../../../lib/daemon/names.js';
import { Reader, type ReaderOptions, type Sink } from '../../../lib/daemon/reader.js';
import { Store } from '../../../lib/daemon/store.js';
import { packPri } from '../../../lib/protocol/severity.js';
import { parseRequest } from '../../../lib/protocol/v2.js';

// stderr's default priority (these sources are not `.out`): err, facility unknown
const PRI = packPri(3, null);

/** A sink that takes at most `room` bytes per write (Infinity: everything), like a socket buffer. */
class TestSink implements Sink {
  out = '';
  wantsWritable = false;
  closed = false;
  constructor(public room = Infinity) {}
  write(buf: Buffer, from: number, to: number): number | null {
    const n = Math.min(to - from, this.room);
    if (n === 0) return null;
    this.out += buf.toString('utf8', from, from + n);
    return n;
  }
  wantWritable(on: boolean): void {
    this.wantsWritable = on;
  }
  close(): void {
    this.closed = true;
  }
  lines(): Array<Record<string, unknown>> {
    return this.out.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  }
}

function setup(maxLines = 100) {
  const store = new Store({ maxLines, maxBytes: 1 << 20, slack: 16 });
  const names = new NameCache(store);
  const add = (source: string, msg: string) => {
    const b = Buffer.from(msg);
    store.append(store.source(Buffer.from(source)), b, 0, b.length, 1763703611, 5e8, 0, PRI);
  };
  const reader = (sink: Sink, o: Partial<ReaderOptions>) =>
    new Reader(store, names, sink, { fromSeq: store.oldestSeq, untilSeq: store.nextSeq, now: () => [1763703700, 0], ...o });
  return { store, add, reader };
}

describe('Reader', () => {
  it('a v1 dump writes the entries and closes the sink', () => {
    const { add, reader } = setup();
    add('a.out', 'one');
    add('b', 'two <x>');
    const sink = new TestSink();
    reader(sink, {}).pump();
    expect(sink.out).toBe('{"time":"2025-11-21T05:40:11.5Z","source":"a.out","msg":"one"}\n' +
      '{"time":"2025-11-21T05:40:11.5Z","source":"b","msg":"two \\u003cx\\u003e"}\n');
    expect(sink.closed).toBe(true);
  });

  it('waits for writability when the sink is full, and resumes where it stopped', () => {
    const { add, reader } = setup();
    for (let i = 0; i < 20; i++) add('a', `line ${i}`);
    const sink = new TestSink(100);
    const r = reader(sink, {});
    r.pump();
    expect(sink.wantsWritable).toBe(true);
    expect(sink.closed).toBe(false);
    sink.room = Infinity;
    r.pump();
    expect(sink.wantsWritable).toBe(false);
    expect(sink.lines().map((e) => e.msg)).toEqual(Array.from({ length: 20 }, (_, i) => `line ${i}`));
    expect(sink.closed).toBe(true);
  });

  it('v2: seq, stream and an end record; a filter leaves out what it does not want', () => {
    const { add, reader } = setup();
    add('web.out', 'GET /');
    add('db', 'ERROR: x');
    add('web', 'timeout');
    const sink = new TestSink();
    reader(sink, { v2: true, filter: Filter.of(parseRequest('{"mode":"dump","sources":["web*"],"stream":"stderr"}')) }).pump();
    expect(sink.lines()).toEqual([
      { seq: 2, time: '2025-11-21T05:40:11.5Z', source: 'web', stream: 'stderr', severity: 3, msg: 'timeout' },
      { type: 'end', next: 3 },
    ]);
  });

  it('a follower that fell behind is told how many entries it missed (lagged), and then gets the rest', () => {
    const { store, add, reader } = setup(10);
    add('a', 'first');
    const sink = new TestSink(0); // a socket that takes nothing
    const r = reader(sink, { fromSeq: store.nextSeq, untilSeq: Infinity, v2: true });
    r.pump();
    for (let i = 0; i < 200; i++) add('a', `m${i}`); // far beyond the store and its slack
    sink.room = Infinity;
    r.pump();
    const recs = sink.lines();
    const gap = recs.find((x) => x.type === 'gap')!;
    expect(gap.reason).toBe('lagged');
    expect(gap.sources).toEqual({ a: gap.count });
    const got = recs.filter((x) => x.type === undefined).length;
    expect(got + (gap.count as number)).toBe(200);
    expect(recs.at(-1)!.msg).toBe('m199');
  });

  it('a dump reports entries fair eviction removed before it came as evicted', () => {
    const { store, add, reader } = setup(4);
    add('quiet', 'q');
    for (let i = 0; i < 10; i++) add('noisy', `n${i}`);
    const sink = new TestSink();
    reader(sink, { fromSeq: 0, untilSeq: store.nextSeq }).pump();
    const msgs = sink.lines().map((e) => e.msg as string);
    expect(msgs[0]).toBe('q');
    // the wording says whose they were (lib/protocol/gap.ts)
    expect(msgs[1]).toBe('gap: 7 entries (seq 1-7) evicted earlier to make room; by source: "noisy" 7');
    expect(msgs.slice(2)).toEqual(['n7', 'n8', 'n9']);
  });

  it('an open gap handed over in a graceful restart keeps whose its entries were', () => {
    const { store, add, reader } = setup();
    add('web', 'x');
    const web = store.source(Buffer.from('web'));
    const state = reader(new TestSink(), { fromSeq: 0, untilSeq: Infinity, v2: true }).exportState();
    const gap: NonNullable<typeof state.gap> = [10, 14, 5, 'lagged'];
    const resumed = (more: Partial<typeof state>) => {
      const sink = new TestSink();
      reader(sink, { fromSeq: store.nextSeq, untilSeq: Infinity, v2: true, resume: { ...state, nextSeq: store.nextSeq, gap, ...more } }).pump();
      return sink.lines().find((x) => x.type === 'gap');
    };
    expect(resumed({ gapSources: [[web, 5]], gapUnknown: 0 })).toEqual({ type: 'gap', from: 10, to: 14, count: 5, reason: 'lagged', sources: { web: 5 } });
    // from a predecessor that kept no breakdown: how many, not whose
    expect(resumed({ gapSources: undefined, gapUnknown: undefined })).toEqual({ type: 'gap', from: 10, to: 14, count: 5, reason: 'lagged' });
  });

  it('a peer that went away (write throws) closes the sink once, quietly', () => {
    const { add, reader } = setup();
    add('a', 'x');
    const sink = new TestSink();
    sink.write = () => {
      throw Object.assign(new Error('EPIPE'), { code: 'EPIPE' });
    };
    reader(sink, { untilSeq: Infinity }).pump();
    expect(sink.closed).toBe(true);
  });
});

describe('Filter', () => {
  const { store, add } = setup();
  add('web.out', 'GET /a 200');
  add('web', 'upstream timeout');
  add('db', 'ERROR: deadlock');
  const matching = (req: string) => {
    const f = Filter.of(parseRequest(req));
    return [0, 1, 2].filter((p) => f === null || f.matches(store, p));
  };
  it('is null when the request filters nothing', () => {
    expect(Filter.of(parseRequest('{"mode":"dump","tail":3}'))).toBeNull();
  });
  it('sources, exclude, stream and grep combine', () => {
    expect(matching('{"mode":"dump","sources":["web*"]}')).toEqual([0, 1]);
    expect(matching('{"mode":"dump","exclude":["web*"]}')).toEqual([2]);
    expect(matching('{"mode":"dump","stream":"stdout"}')).toEqual([0]);
    expect(matching('{"mode":"dump","grep":"ERROR|timeout"}')).toEqual([1, 2]);
    expect(matching('{"mode":"dump","sources":["web*","db"],"grep":"ERROR"}')).toEqual([2]);
  });
  it('since and until compare receive times, to the nanosecond', () => {
    expect(matching('{"mode":"dump","since":"2025-11-21T05:40:11.5Z"}')).toEqual([0, 1, 2]);
    expect(matching('{"mode":"dump","since":"2025-11-21T05:40:11.500000001Z"}')).toEqual([]);
    expect(matching('{"mode":"dump","until":"2025-11-21T05:40:11.5Z"}')).toEqual([]);
    expect(matching('{"mode":"dump","until":"2025-11-21T05:40:11.500000001Z"}')).toEqual([0, 1, 2]);
  });
});
