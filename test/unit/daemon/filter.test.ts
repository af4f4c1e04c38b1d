// A reader's filter cannot hold the daemon: grep patterns V8 cannot run in linear time are refused,
// nested quantifiers run in linear time, and a filter that uses up its time budget ends only its
// own request, with an error record.

import { describe, expect, it } from 'vitest';
import { Filter } from '../../../lib/daemon/filter.js';
import { NameCache } from '../../../lib/daemon/names.js';
import { Reader, type Sink } from '../../../lib/daemon/reader.js';
import { Store } from '../../../lib/daemon/store.js';
import { MAX_GREP_CHARS } from '../../../lib/protocol/constants.js';
import { ProtocolError } from '../../../lib/protocol/errors.js';
import { parseRequest } from '../../../lib/protocol/v2.js';

function store(msgs: string[]): Store {
  const st = new Store({ maxLines: 1000, maxBytes: 1 << 22, slack: 16 });
  const src = st.source(Buffer.from('web'));
  for (const m of msgs) {
    const b = Buffer.from(m);
    st.append(src, b, 0, b.length, 1763703611, 0, 0, 0);
  }
  return st;
}

const filter = (req: object) => Filter.of(parseRequest(JSON.stringify({ mode: 'dump', ...req })));

describe('Filter', () => {
  it('refuses grep patterns that cannot run in linear time, with ERR_BAD_REQUEST', () => {
    for (const g of ['(a)\\1', '(?=a)b', '(?<!x)y', 'a{1000}']) {
      let err: unknown;
      try {
        filter({ grep: g });
      } catch (e) {
        err = e;
      }
      expect(err, g).toBeInstanceOf(ProtocolError);
      expect((err as ProtocolError).code).toBe('ERR_BAD_REQUEST');
      expect((err as Error).message).toMatch(/cannot be matched in linear time/);
    }
    expect(() => filter({ grep: 'x'.repeat(MAX_GREP_CHARS + 1) })).toThrow(/at most 256/);
  });

  it('runs nested quantifiers in linear time (the backtracking engine took seconds on 25 characters)', () => {
    const st = store(['a'.repeat(1024), 'aaab']);
    const f = filter({ grep: '(a*)*b' })!;
    expect(f.matches(st, 0)).toBe(false);
    expect(f.matches(st, 1)).toBe(true);
    expect(f.exhausted).toBe(false);
  });

  it('matches source globs without RegExp, whatever the number of stars', () => {
    const st = store(['x']);
    expect(filter({ sources: ['*e*b*'] })!.matches(st, 0)).toBe(true);
    expect(filter({ sources: ['*w'.repeat(500) + '*z'] })!.matches(st, 0)).toBe(false);
  });

  it('ends only its own request once it used up its time budget: an error record, no end record', () => {
    // A pattern the linear engine takes a long time over (0.5 s per 1 KiB line on the CI machine):
    // the budget (250 ms) is gone after the first entries.
    const costly = '(?:' + '(?:a?a?a?a?a?a?a?a?){16}'.repeat(10) + ')*b';
    const st = store(Array.from({ length: 50 }, () => 'a'.repeat(1024)));
    const names = new NameCache(st);
    let out = '';
    let closed = false;
    const sink: Sink = {
      write: (buf, from, to) => ((out += buf.toString('utf8', from, to)), to - from),
      wantWritable: () => {},
      close: () => void (closed = true),
    };
    const notes: string[] = [];
    const r = new Reader(st, names, sink, {
      fromSeq: st.oldestSeq, untilSeq: st.nextSeq, now: () => [0, 0], v2: true, filter: filter({ grep: costly }),
      log: (m) => notes.push(m),
    });
    r.pump();
    const records = out.trim().split('\n').map((l) => JSON.parse(l));
    expect(records.at(-1)).toMatchObject({ type: 'error', code: 'ERR_QUERY_TOO_EXPENSIVE' });
    expect(records.some((x) => x.type === 'end')).toBe(false);
    expect(closed).toBe(true);
    expect(notes.some((m) => /ended: ERR_QUERY_TOO_EXPENSIVE/.test(m))).toBe(true);
    expect(r.nextSeq).toBeLessThan(50); // it stopped early
  });
});
