import { describe, expect, it } from 'vitest';
import { formatCursor, parseCursor } from '../../../lib/protocol/cursor.js';
import { ERR, MemlogdError, ProtocolError, UsageError, codeOf, hasCode } from '../../../lib/protocol/errors.js';
import { entriesText, gapBanner, gapCountV1, gapMessageV1, gapTextFor } from '../../../lib/protocol/gap.js';
import { globToRegExp } from '../../../lib/protocol/glob.js';
import { jsonString } from '../../../lib/protocol/json.js';
import { readStats } from '../../../lib/protocol/stats.js';
import { packPri } from '../../../lib/protocol/severity.js';
import {
  V2Encoder, decodeEntry, decodeRecord, encodeEnd, encodeEntry, encodeError, encodeGap, encodeRequest, encodeStart, parseRecord, parseRequest,
  type GapRecord, type QueryRequest,
} from '../../../lib/protocol/v2.js';
import { exitStatusOf, EXIT_CONNECT, EXIT_ERROR, EXIT_USAGE } from '../../../lib/cli/exit.js';

const bad = (line: string) => {
  try {
    parseRequest(line);
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).code).toBe('ERR_BAD_REQUEST');
    return (err as Error).message;
  }
  throw new Error(`accepted: ${line}`);
};

describe('v2 requests', () => {
  it('accept every documented field', () => {
    const r = { mode: 'dump+follow', after: 'ab12:7', sources: ['web*'], exclude: ['memlogd'], stream: 'stderr',
      since: '2026-11-21T05:00:00Z', until: '2026-11-21T06:00:00.5Z', tail: 10, grep: 'a|b' } satisfies QueryRequest;
    expect(parseRequest(JSON.stringify(r))).toEqual(r);
    expect(encodeRequest(r).toString()).toBe(JSON.stringify(r) + '\n');
  });
  it('refuse anything else with one clear message', () => {
    expect(bad('{')).toMatch(/not valid JSON/);
    expect(bad('[]')).toMatch(/JSON object/);
    expect(bad('{"mode":"dump","x":1}')).toMatch(/unknown field "x"/);
    expect(bad('{"mode":"all"}')).toMatch(/mode must be one of/);
    expect(bad('{"mode":"dump","after":"zz:1"}')).toMatch(/cursor/);
    expect(bad('{"mode":"dump","sources":"x"}')).toMatch(/array of glob/);
    expect(bad('{"mode":"dump","sources":["[x"]}')).toMatch(/unclosed \[/);
    expect(bad('{"mode":"dump","stream":"both"}')).toMatch(/stream/);
    expect(bad('{"mode":"dump","since":"yesterday"}')).toMatch(/RFC3339/);
    expect(bad('{"mode":"dump","tail":-1}')).toMatch(/tail/);
    expect(bad('{"mode":"dump","tail":1.5}')).toMatch(/tail/);
    expect(bad('{"mode":"dump","grep":"("}')).toMatch(/regular expression/);
  });
});

describe('cursors', () => {
  it('round-trip', () => {
    expect(parseCursor(formatCursor('b5f1c2d3e4a5b6c7', 1041))).toEqual({ instance: 'b5f1c2d3e4a5b6c7', seq: 1041 });
  });
  it('reject what is not one, and sequence numbers beyond 2^53', () => {
    for (const s of ['', ':1', 'ab:', 'AB:1', 'xy:1', 'ab:-1', 'ab:1:2', 'ab:99999999999999999', `${'a'.repeat(65)}:1`]) {
      expect(parseCursor(s), s).toBeNull();
    }
  });
});

describe('globs', () => {
  const m = (g: string, s: string) => globToRegExp(g).test(s);
  it('match whole names with * ? and classes', () => {
    expect(m('web*', 'web.out')).toBe(true);
    expect(m('web*', 'myweb')).toBe(false);
    expect(m('a?c', 'abc')).toBe(true);
    expect(m('a?c', 'ac')).toBe(false);
    expect(m('[ab]x', 'bx')).toBe(true);
    expect(m('[!ab]x', 'bx')).toBe(false);
    expect(m('[!ab]x', 'cx')).toBe(true);
    expect(m('*', 'line\nbreak')).toBe(true);
  });
  it('treat regular expression characters literally', () => {
    expect(m('a.b', 'axb')).toBe(false);
    expect(m('a.b', 'a.b')).toBe(true);
    expect(m('(x)+$', '(x)+$')).toBe(true);
    expect(m('semi;colon', 'semi;colon')).toBe(true);
  });
});

describe('records', () => {
  it('encode in the documented key order', () => {
    expect(encodeStart('ab', 3, 9)).toBe('{"type":"start","instance":"ab","oldest":3,"next":9}');
    expect(encodeGap({ from: 1, to: 2, count: 2, reason: 'lagged' })).toBe('{"type":"gap","from":1,"to":2,"count":2,"reason":"lagged"}');
    expect(encodeGap({ from: 0, to: -1, count: 0, reason: 'restarted', previous: 'cd:4' }))
      .toBe('{"type":"gap","from":0,"to":-1,"count":0,"reason":"restarted","previous":"cd:4"}');
    expect(encodeEnd(9)).toBe('{"type":"end","next":9}');
    expect(encodeError('ERR_BAD_REQUEST', 'no')).toBe('{"type":"error","code":"ERR_BAD_REQUEST","message":"no"}');
  });
  it('the fast entry decoder agrees with JSON.parse, and declines what needs unescaping', () => {
    const enc = new V2Encoder();
    const out = Buffer.alloc(1024);
    const cases: Array<[string, string, boolean]> = [['web.out', 'GET / 200', false], ['db', 'piece', true], ['x', 'quote " and \\', false], ['é', 'ünïcode', false]];
    for (const [source, msg, partial] of cases) {
      const m = Buffer.from(msg);
      const n = enc.encode(out, 0, 42, 1763703611, 692448000, jsonString(Buffer.from(source)), source.endsWith('.out'), m, 0, m.length, partial, packPri(source.endsWith('.out') ? 6 : 3, null));
      const line = out.toString('utf8', 0, n - 1);
      const parsed = JSON.parse(line);
      expect(decodeRecord(line)).toEqual(parsed);
      const fast = decodeEntry(line);
      if (fast) expect(fast).toEqual(parsed);
      else expect(msg).toMatch(/["\\]/);
    }
    expect(decodeEntry('{"type":"end","next":1}')).toBeNull();
  });
  it('a decoded entry encodes back to the same line (encodeEntry goes through V2Encoder)', () => {
    const enc = new V2Encoder();
    const out = Buffer.alloc(1024);
    for (const [source, msg, partial] of [['web.out', 'GET / 200', false], ['d;b', 'piece <&> "q" \\ \u2028', true], ['é', 'ünïcode', false]] as const) {
      const m = Buffer.from(msg);
      const n = enc.encode(out, 0, 7, 1763703611, 692448000, jsonString(Buffer.from(source)), source.endsWith('.out'), m, 0, m.length, partial, packPri(source.endsWith('.out') ? 6 : 3, null));
      const line = out.toString('utf8', 0, n - 1);
      expect(encodeEntry(decodeRecord(line) as Parameters<typeof encodeEntry>[0])).toBe(line);
    }
    expect(encodeEntry({ seq: 1, time: 'yesterday', source: 'a', stream: 'stderr', msg: 'x' })).toBeNull();
  });
  it('a stats record is checked once: wrong types are dropped, missing parts stay missing', () => {
    const r = parseRecord(JSON.stringify({ type: 'stats', instance: 'ab', uptime: 'x', store: { lines: 3, bytes: '9' }, sources: [{ name: 'a', pid: 5 }] }));
    expect(r).toEqual({ type: 'stats', instance: 'ab', store: { lines: 3 }, sources: [{ name: 'a', pid: 5 }], readers: undefined });
    expect(readStats({})).toEqual({ type: 'stats', sources: undefined, readers: undefined });
  });
});

describe('gap wording (one place)', () => {
  const g = (count: number, reason: GapRecord['reason']): GapRecord => ({ type: 'gap', from: 10, to: 10 + count - 1, count, reason });
  it('counts entries in words', () => {
    expect(entriesText(1)).toBe('1 entry');
    expect(entriesText(2)).toBe('2 entries');
  });
  it('every v1 message parses back to its count', () => {
    for (const reason of ['evicted', 'lagged', 'restarted'] as const) {
      for (const count of [1, 48]) expect(gapCountV1(gapMessageV1(g(count, reason))), `${reason} ${count}`).toBe(count);
    }
    expect(gapCountV1(gapMessageV1(g(0, 'restarted')))).toBe(0);
    expect(gapCountV1('memlogd started')).toBeNull();
  });
  it('banner and persister text name the reason', () => {
    expect(gapBanner(g(2, 'lagged'))).toBe('--- memlogd: 2 entries missed (lagged, seq 10-11) ---');
    expect(gapTextFor('logforward', g(1, 'evicted'), null)).toBe('gap: 1 entry (seq 10-10) evicted by memlogd before logforward could write them');
  });
});

describe('errors', () => {
  it('carry stable codes, and the commands map codes to exit statuses', () => {
    const u = new UsageError('bad flag');
    expect(u).toBeInstanceOf(MemlogdError);
    expect(hasCode(u, ERR.USAGE)).toBe(true);
    expect(codeOf(new MemlogdError(ERR.CONNECT, 'x'))).toBe('ERR_MEMLOGD_CONNECT');
    expect(codeOf('not an error')).toBeUndefined();
    expect(exitStatusOf(ERR.USAGE)).toBe(EXIT_USAGE);
    expect(exitStatusOf(ERR.CONNECT)).toBe(EXIT_CONNECT);
    expect(exitStatusOf(ERR.BAD_REQUEST)).toBe(EXIT_ERROR);
    expect(exitStatusOf(undefined)).toBe(EXIT_ERROR);
  });
});
