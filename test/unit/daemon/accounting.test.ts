// Exact accounting, in memory: random appends from several sources into a small store (eviction,
// compaction, the drop log summarizing), readers of every kind arriving at random times, some of
// them stalling (a socket that takes nothing for a while), some filtering by source. For every
// reader and every source: entries in its window = entries delivered + entries its gap records
// say were that source's. The query server's own request paths make the readers (start record,
// cuts, filters); a test double stands in for the connection.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NameCache } from '../../../lib/daemon/names.js';
import { QueryServer } from '../../../lib/daemon/query-server.js';
import type { Connection } from '../../../lib/daemon/connection.js';
import type { Reader } from '../../../lib/daemon/reader.js';
import { Store } from '../../../lib/daemon/store.js';
import { MODE_DUMP, MODE_DUMP_FOLLOW, MODE_FOLLOW } from '../../../lib/protocol/constants.js';
import { gapCountV1, gapSourcesV1 } from '../../../lib/protocol/gap.js';
import { encodeRequest, type QueryRequest } from '../../../lib/protocol/v2.js';

const SOURCES = ['web.out', 'web', 'db', 'x"y', '__proto__'];

/** The connection as a reader sees it: takes `room` bytes per write (0: a stalled client). */
class FakeConn {
  readonly pid = 1;
  readonly uid = 0;
  text = '';
  room = Infinity;
  closed = false;
  reader: Reader | null = null;
  constructor(private readonly qs: QueryServer) {}
  write(buf: Buffer, from: number, to: number): number | null {
    const n = Math.min(to - from, this.room);
    if (n === 0) return null;
    this.text += buf.toString('latin1', from, from + n);
    return n;
  }
  wantWritable(): void {}
  close(): void {
    this.closed = true;
    this.qs.forget(this as unknown as Connection);
  }
}

type Kind = 'v1-dump' | 'v1-follow' | 'v1-dump+follow' | 'v2-dump' | 'v2-follow' | 'v2-dump+follow';
interface Client { kind: Kind; conn: FakeConn; from: number; until: number; only: Set<string> | null; reader: Reader }

const op = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant('append' as const), src: fc.nat(SOURCES.length - 1), n: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 30 })), len: fc.nat(40) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('connect' as const),
      kind: fc.constantFrom<Kind>('v1-dump', 'v1-follow', 'v1-dump+follow', 'v2-dump', 'v2-follow', 'v2-dump+follow'),
      only: fc.option(fc.subarray(SOURCES, { minLength: 1 }), { nil: null }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('room' as const), who: fc.nat(), room: fc.constantFrom(0, 0, 0, 100, 5000, Infinity) }) },
);

describe('per-source accounting of every reader', () => {
  it('entries in a reader\'s window = delivered + what its gaps attribute to each source', () => {
    fc.assert(fc.property(fc.record({
      maxLines: fc.integer({ min: 5, max: 60 }),
      maxBytes: fc.integer({ min: 400, max: 3000 }),
      slack: fc.integer({ min: 5, max: 80 }),
      // small enough that the drop log summarizes, often
      dropBudget: fc.integer({ min: 16, max: 300 }),
      ops: fc.array(op, { minLength: 20, maxLength: 300, size: 'medium' }),
    }), (p) => {
      const store = new Store({ maxLines: p.maxLines, maxBytes: p.maxBytes, slack: p.slack, dropBudget: p.dropBudget });
      const qs = new QueryServer(store, { log: () => {}, now: () => [1763703700, 0], instance: 'ab12', stats: () => ({}) as never });
      const ids = SOURCES.map((s) => store.source(Buffer.from(s)));
      const srcOf: string[] = []; // the model: every entry's source, by seq
      const clients: Client[] = [];
      let line = 0;
      for (const o of p.ops) {
        if (o.t === 'append') {
          for (let i = 0; i < o.n; i++) {
            const msg = Buffer.from(`${line++} ${'m'.repeat(o.len)}`);
            store.append(ids[o.src], msg, 0, msg.length, 1763703611, 0, 0, 6);
            srcOf.push(SOURCES[o.src]);
          }
          qs.notify();
        } else if (o.t === 'connect') {
          const conn = new FakeConn(qs);
          const [v, mode] = o.kind.split('-') as ['v1' | 'v2', string];
          const from = mode === 'follow' ? store.nextSeq : store.oldestSeq;
          const until = mode === 'dump' ? store.nextSeq : Infinity;
          let reader: Reader | null;
          if (v === 'v1') reader = qs.requestV1(conn as unknown as Connection, mode === 'dump' ? MODE_DUMP : mode === 'follow' ? MODE_FOLLOW : MODE_DUMP_FOLLOW);
          else {
            const req: QueryRequest = { mode: mode as QueryRequest['mode'] };
            if (o.only) req.sources = o.only.map((s) => s.replace(/[*?[\]]/g, '?'));
            reader = qs.requestV2(conn as unknown as Connection, encodeRequest(req).toString().trim()) as Reader;
          }
          conn.reader = reader;
          clients.push({ kind: o.kind, conn, from, until, only: v === 'v2' && o.only ? new Set(o.only) : null, reader: reader! });
          reader!.pump();
        } else if (clients.length > 0) {
          const c = clients[o.who % clients.length];
          c.conn.room = o.room;
          c.reader.pump();
        }
      }
      // everyone reads the rest
      for (const c of clients) c.conn.room = Infinity;
      qs.notify();

      for (const c of clients) {
        const until = Math.min(c.until, store.nextSeq);
        const want = new Map<string, number>();
        for (let seq = c.from; seq < until; seq++) {
          if (c.only && !c.only.has(srcOf[seq])) continue;
          want.set(srcOf[seq], (want.get(srcOf[seq]) ?? 0) + 1);
        }
        const got = new Map<string, number>();
        const add = (s: string, n: number) => got.set(s, (got.get(s) ?? 0) + n);
        let lastSeq = -1;
        const lines = c.conn.text.split('\n').filter(Boolean).map((l) => JSON.parse(Buffer.from(l, 'latin1').toString('utf8')));
        for (const r of lines) {
          if (c.kind.startsWith('v1')) {
            const n = r.source === 'memlogd' ? gapCountV1(r.msg) : null;
            if (n === null) add(r.source, 1);
            else {
              const by = gapSourcesV1(r.msg);
              if (by === null) {
                // only a log that had to give up a summary may not know
                expect(store.drops.forgotten, r.msg).toBeGreaterThan(0);
                add('?', n);
                continue;
              }
              expect(Object.values(by).reduce((a, b) => a + b, 0)).toBe(n);
              for (const [s, k] of Object.entries(by)) add(s, k);
            }
          } else if (r.type === undefined) {
            expect(r.seq).toBeGreaterThan(lastSeq);
            expect(srcOf[r.seq]).toBe(r.source);
            lastSeq = r.seq;
            add(r.source, 1);
          } else if (r.type === 'gap') {
            expect(r.from).toBeGreaterThan(lastSeq);
            lastSeq = r.to;
            if (r.sources === undefined) {
              expect(store.drops.forgotten, JSON.stringify(r)).toBeGreaterThan(0);
              add('?', r.count);
              continue;
            }
            expect(Object.values(r.sources as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(r.count);
            for (const [s, k] of Object.entries(r.sources as Record<string, number>)) add(s, k);
          } else if (r.type === 'start') {
            // whose history before the oldest entry was
            const ev = new Map<string, number>();
            for (let seq = 0; seq < r.oldest; seq++) ev.set(srcOf[seq], (ev.get(srcOf[seq]) ?? 0) + 1);
            if (r.evicted !== undefined || store.drops.forgotten === 0) expect(new Map(Object.entries(r.evicted ?? {}))).toEqual(ev);
          }
        }
        const what = `${c.kind} from ${c.from} until ${until}${c.only ? ` only ${[...c.only]}` : ''}`;
        if (got.has('?')) {
          // what is attributed is never more than it should be; the total is exact, or with a
          // filter at least what matched (an entry of a forgotten source might have)
          const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
          if (c.only) expect(total(got), what).toBeGreaterThanOrEqual(total(want));
          else expect(total(got), what).toBe(total(want));
          for (const [s, n] of got) if (s !== '?') expect(n, what).toBeLessThanOrEqual(want.get(s) ?? 0);
        } else expect(got, what).toEqual(want);
        if (c.until !== Infinity) expect(c.conn.closed).toBe(true);
      }
    }), { numRuns: 50, seed: 51 });
  });

  it('names decode as clients read them from entries, and duplicates add up', () => {
    const store = new Store({ maxLines: 10, maxBytes: 1000 });
    const a = store.source(Buffer.from([0xff, 0x61]));
    const b = store.source(Buffer.from([0xfe, 0x61]));
    const c = store.source(Buffer.from('web'));
    const names = new NameCache(store);
    expect(names.text(a)).toBe('\ufffda');
    expect(names.bySource(new Map([[c, 2], [a, 1], [b, 3]]))).toEqual([['\ufffda', 4], ['web', 2]]);
  });
});
