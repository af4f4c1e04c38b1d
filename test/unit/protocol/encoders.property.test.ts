// The protocol's encoders and decoders against simple reference models (fast-check): Go's JSON
// string escaping written out rune by rune, the v1 and v2 entry shapes as JSON.parse sees them,
// the fast entry decoder against JSON.parse, times against parseTime, gap and start records and
// the gap wording against the breakdown they carry.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gapBanner, gapCountV1, gapMessageV1, gapReasonV1, gapSourcesV1, gapTextFor } from '../../../lib/protocol/gap.js';
import { escapeJsonInto, jsonString, maxEscapedLength } from '../../../lib/protocol/json.js';
import { packPri } from '../../../lib/protocol/severity.js';
import { formatTime, parseTime } from '../../../lib/protocol/time.js';
import { V1Encoder } from '../../../lib/protocol/v1.js';
import { decodeEntry, decodeRecord, encodeGap, encodeStart, V2Encoder, type GapRecord } from '../../../lib/protocol/v2.js';
import { fastMemory } from '../../../lib/wasm/fast-memory.js';

/**
 * The rune at b[i] as Go's utf8.DecodeRune reads it: [code point, size], or null where Go returns
 * (RuneError, 1): a bad lead or continuation byte, a truncated sequence, an overlong form, a
 * UTF-16 surrogate, or beyond U+10FFFF. Written from the definition (decode, then check the
 * value), not from the byte ranges the implementation uses.
 */
function decodeRune(b: Uint8Array, i: number): [number, number] | null {
  const b0 = b[i];
  if (b0 < 0x80) return [b0, 1];
  let n: number;
  let cp: number;
  if ((b0 & 0xe0) === 0xc0) [n, cp] = [2, b0 & 0x1f];
  else if ((b0 & 0xf0) === 0xe0) [n, cp] = [3, b0 & 0x0f];
  else if ((b0 & 0xf8) === 0xf0) [n, cp] = [4, b0 & 0x07];
  else return null;
  if (i + n > b.length) return null;
  for (let k = 1; k < n; k++) {
    if ((b[i + k] & 0xc0) !== 0x80) return null;
    cp = (cp << 6) | (b[i + k] & 0x3f);
  }
  const min = [0, 0, 0x80, 0x800, 0x10000][n];
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null;
  return [cp, n];
}

/** Go's encoding/json string contents (HTML-safe, the default) for a byte string, rune by rune. */
function goEscape(b: Uint8Array): string {
  let out = '';
  for (let i = 0; i < b.length;) {
    const r = decodeRune(b, i);
    if (r === null) {
      out += '\\ufffd';
      i++;
      continue;
    }
    const [cp, n] = r;
    i += n;
    if (cp === 0x22 || cp === 0x5c) out += '\\' + String.fromCharCode(cp);
    else if (cp === 0x08) out += '\\b';
    else if (cp === 0x0c) out += '\\f';
    else if (cp === 0x0a) out += '\\n';
    else if (cp === 0x0d) out += '\\r';
    else if (cp === 0x09) out += '\\t';
    else if (cp < 0x20 || cp === 0x3c || cp === 0x3e || cp === 0x26 || cp === 0x2028 || cp === 0x2029) {
      out += '\\u' + cp.toString(16).padStart(4, '0');
    } else out += String.fromCodePoint(cp);
  }
  return out;
}

/** What a JSON decoder makes of the bytes after Go encoded them: every bad byte one U+FFFD. */
function goDecode(b: Uint8Array): string {
  let out = '';
  for (let i = 0; i < b.length;) {
    const r = decodeRune(b, i);
    out += r === null ? '\ufffd' : String.fromCodePoint(r[0]);
    i += r === null ? 1 : r[1];
  }
  return out;
}

/** Bytes worth escaping or decoding: plain ASCII, specials, UTF-8 pieces, invalid bytes. */
const byte = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
  { weight: 2, arbitrary: fc.constantFrom(0x00, 0x01, 0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x1f, 0x22, 0x26, 0x3c, 0x3e, 0x5c, 0x7f) },
  { weight: 2, arbitrary: fc.constantFrom(0xc0, 0xc2, 0xc3, 0xa9, 0xe2, 0x80, 0x82, 0xa8, 0xa9, 0xac, 0xed, 0xa0, 0xf0, 0x90, 0x9f, 0x98, 0xf4, 0x8f, 0xbf, 0xf5, 0xff) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
);
const bytes = (maxLength: number) => fc.oneof(
  fc.array(byte, { maxLength }).map((a) => Buffer.from(a)),
  fc.string({ unit: 'grapheme', maxLength: maxLength / 4 }).map((s) => Buffer.from(s, 'utf8')),
);
const time = fc.record({ sec: fc.integer({ min: 0, max: 253402300799 }), nsec: fc.integer({ min: 0, max: 999_999_999 }) });

describe('escapeJsonInto against Go\'s escaping, rune by rune', () => {
  it('JavaScript path', () => {
    fc.assert(fc.property(bytes(300), (b) => {
      const out = Buffer.alloc(maxEscapedLength(b.length) + 8);
      const n = escapeJsonInto(b, 0, b.length, out, 3);
      expect(n - 3).toBeLessThanOrEqual(maxEscapedLength(b.length));
      expect(out.toString('utf8', 3, n)).toBe(goEscape(b));
      expect(JSON.parse(`"${out.toString('utf8', 3, n)}"`)).toBe(goDecode(b));
    }), { numRuns: 2000, seed: 21 });
  });

  it('WebAssembly SIMD path, at any offsets in its memory', () => {
    const fm = fastMemory(1 << 16);
    if (!fm) return; // no WebAssembly here: the JavaScript path is the only one
    const { view, fast } = fm;
    fc.assert(fc.property(bytes(300), fc.nat(4000), fc.nat(4000), (b, at, o) => {
      view.set(b, at);
      const dst = 8192 + o;
      const n = escapeJsonInto(view, at, at + b.length, view, dst, fast);
      expect(view.toString('utf8', dst, n)).toBe(goEscape(b));
    }), { numRuns: 2000, seed: 22 });
  });
});

describe('times', () => {
  it('formatTime is RFC3339Nano (fraction without trailing zeros, none when zero) and parses back', () => {
    fc.assert(fc.property(time, ({ sec, nsec }) => {
      const t = formatTime(sec, nsec);
      expect(t).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,8}[1-9])?Z$/);
      expect(parseTime(t)).toEqual([sec, nsec]);
      expect(Date.parse(t)).toBe(sec * 1000 + Math.floor(nsec / 1e6));
    }), { numRuns: 1000, seed: 23 });
  });
});

describe('entry encoders against JSON.parse', () => {
  const entry = fc.record({
    seq: fc.oneof(fc.nat(), fc.constant(2 ** 53 - 1)),
    t: time,
    source: bytes(24),
    stdout: fc.boolean(),
    msg: bytes(200),
    partial: fc.boolean(),
    // the store's priority byte: severity, and the facility when the source said one
    severity: fc.integer({ min: 0, max: 7 }),
    facility: fc.option(fc.integer({ min: 0, max: 23 }), { nil: null }),
  });
  // Several entries through one encoder, often with the same time and source, so the cached
  // prefix is both reused and rebuilt.
  const batch = fc.array(entry, { minLength: 1, maxLength: 12 }).chain((es) => fc.array(fc.boolean(), { minLength: es.length, maxLength: es.length })
    .map((same) => es.map((e, i) => (i > 0 && same[i] ? { ...e, t: es[i - 1].t, source: es[i - 1].source, stdout: es[i - 1].stdout } : e))));

  it('v1: exactly {"time","source","msg"} per line, values as Go would encode them', () => {
    fc.assert(fc.property(batch, (es) => {
      const enc = new V1Encoder();
      const out = Buffer.alloc(es.reduce((n, e) => n + V1Encoder.worstCase(jsonString(e.source), e.msg.length), 0));
      let o = 0;
      const names = es.map((e, i) => (i > 0 && e.source === es[i - 1].source ? null : jsonString(e.source)));
      let name = names[0]!;
      for (let i = 0; i < es.length; i++) {
        name = names[i] ?? name; // the same name buffer again, as readers pass it
        o = enc.encode(out, o, es[i].t.sec, es[i].t.nsec, name, es[i].msg, 0, es[i].msg.length);
      }
      const lines = out.toString('utf8', 0, o).split('\n');
      expect(lines.pop()).toBe('');
      expect(lines).toHaveLength(es.length);
      lines.forEach((line, i) => {
        const e = es[i];
        const v = JSON.parse(line);
        expect(Object.keys(v)).toEqual(['time', 'source', 'msg']);
        expect(v).toEqual({ time: formatTime(e.t.sec, e.t.nsec), source: goDecode(e.source), msg: goDecode(e.msg) });
      });
    }), { numRuns: 500, seed: 24 });
  });

  it('v2: {"seq","time","source","stream","severity"[,"facility"],"msg"[,"partial"]}; decodeEntry agrees with JSON.parse or declines', () => {
    fc.assert(fc.property(batch, (es) => {
      const enc = new V2Encoder();
      const out = Buffer.alloc(es.reduce((n, e) => n + V2Encoder.worstCase(jsonString(e.source), e.msg.length), 0));
      let o = 0;
      let name = jsonString(es[0].source);
      for (let i = 0; i < es.length; i++) {
        if (i > 0 && es[i].source !== es[i - 1].source) name = jsonString(es[i].source);
        const e = es[i];
        o = enc.encode(out, o, e.seq, e.t.sec, e.t.nsec, name, e.stdout, e.msg, 0, e.msg.length, e.partial, packPri(e.severity, e.facility));
      }
      const lines = out.toString('utf8', 0, o).split('\n');
      expect(lines.pop()).toBe('');
      lines.forEach((line, i) => {
        const e = es[i];
        const v = JSON.parse(line);
        const want: Record<string, unknown> = {
          seq: e.seq, time: formatTime(e.t.sec, e.t.nsec), source: goDecode(e.source), stream: e.stdout ? 'stdout' : 'stderr', severity: e.severity,
        };
        if (e.facility !== null) want.facility = e.facility;
        want.msg = goDecode(e.msg);
        if (e.partial) want.partial = true;
        expect(Object.keys(v)).toEqual(Object.keys(want));
        expect(v).toEqual(want);
        expect(decodeRecord(line)).toEqual(want);
        const fast = decodeEntry(line);
        if (fast !== null) expect(fast).toEqual(want);
        else expect(line.includes('\\')).toBe(true); // it declines only what needs unescaping
      });
    }), { numRuns: 500, seed: 25 });
  });
});

describe('gap and start records with a per-source breakdown', () => {
  /** Names that break naive handling: JSON specials, separators of the v1 wording, prototype keys, integers. */
  const name = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.constantFrom('web', 'db.out', '__proto__', 'constructor', '1', '007', '', 'a "b"', 'x\\y', 'semi;colon', '"web" 4, "db" 5', '; by source: ', 'line\nbreak', '\u2028', 'é€😀'),
  );
  const sources = fc.array(fc.tuple(name, fc.integer({ min: 1, max: 1e9 })), { maxLength: 8 });
  const gap = fc.record({
    from: fc.nat(1e12),
    len: fc.nat(1e6),
    reason: fc.constantFrom('evicted', 'lagged', 'restarted') as fc.Arbitrary<'evicted' | 'lagged' | 'restarted'>,
    previous: fc.option(fc.constant('ab12:7'), { nil: undefined }),
    sources,
  });
  /** The model: counts per name, added up, zero-free. */
  const merged = (list: Array<[string, number]>) => {
    const m = new Map<string, number>();
    for (const [k, n] of list) m.set(k, (m.get(k) ?? 0) + n);
    return m;
  };

  it('encodeGap: JSON.parse gives the fields, and the breakdown added up per name, in the order given', () => {
    fc.assert(fc.property(gap, (g) => {
      const count = g.sources.reduce((a, [, n]) => a + n, 0);
      const rec = { from: g.from, to: g.from + g.len - 1, count, reason: g.reason, previous: g.previous, sources: g.sources };
      const line = encodeGap(rec);
      const v = JSON.parse(line);
      expect(v.type).toBe('gap');
      expect([v.from, v.to, v.count, v.reason, v.previous]).toEqual([rec.from, rec.to, count, g.reason, g.previous]);
      const want = merged(g.sources);
      if (want.size === 0) expect('sources' in v).toBe(false);
      else {
        expect(new Map(Object.entries(v.sources))).toEqual(want);
        // the text carries the names in the order given (JSON.parse may reorder integer-like keys)
        const keys = [...line.matchAll(/"((?:[^"\\]|\\.)*)":\d+/g)].map((m) => JSON.parse(`"${m[1]}"`)).slice(-want.size);
        expect(keys).toEqual([...want.keys()]);
      }
      expect(decodeRecord(line)).toEqual(v);
    }), { numRuns: 1000, seed: 26 });
  });

  it('encodeStart: the breakdown of what was evicted before the oldest entry, when there is one', () => {
    fc.assert(fc.property(fc.nat(1e9), fc.nat(1e9), sources, (oldest, more, list) => {
      const v = JSON.parse(encodeStart('ab12', oldest, oldest + more, list));
      expect(Object.keys(v).slice(0, 4)).toEqual(['type', 'instance', 'oldest', 'next']);
      expect([v.type, v.instance, v.oldest, v.next]).toEqual(['start', 'ab12', oldest, oldest + more]);
      if (list.length === 0) expect('evicted' in v).toBe(false);
      else expect(new Map(Object.entries(v.evicted))).toEqual(merged(list));
    }), { numRuns: 300, seed: 27 });
  });

  it('the v1 wording: starts with "gap: ", and gapCountV1 and gapSourcesV1 read back the count and the breakdown', () => {
    fc.assert(fc.property(gap, (g) => {
      const m = merged(g.sources);
      const bySource = Object.assign(Object.create(null), Object.fromEntries(m)) as Record<string, number>;
      const count = [...m.values()].reduce((a, b) => a + b, 0) + (m.size === 0 ? g.len : 0);
      const rec: GapRecord = { type: 'gap', from: g.from, to: g.from + count - 1, count, reason: g.reason, previous: g.previous };
      if (m.size > 0) rec.sources = bySource;
      const msg = gapMessageV1(rec);
      expect(msg.startsWith('gap: ')).toBe(true);
      expect(gapCountV1(msg)).toBe(count);
      expect(gapReasonV1(msg)).toBe(g.reason);
      const back = gapSourcesV1(msg);
      if (m.size === 0 || (g.reason === 'restarted' && count === 0)) expect(back).toBeNull();
      else expect(new Map(Object.entries(back!))).toEqual(m);
      // the banner and the persister's line show the breakdown too (the banner the first five)
      if (m.size > 0 && count > 0) {
        const [first] = [...m].sort((a, b) => b[1] - a[1]);
        expect(gapBanner(rec)).toContain(`${JSON.stringify(first[0])} ${first[1]}`);
        expect(gapTextFor('logwrite', rec, 'cd34')).toContain(`; by source: ${JSON.stringify(first[0])} ${first[1]}`);
      }
    }), { numRuns: 1000, seed: 28 });
  });
});
