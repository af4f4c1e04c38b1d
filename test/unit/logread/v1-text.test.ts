// logread's byte-level text formatter against the definition: formatText(parseEntry(line)).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { V1TextFormatter } from '../../../lib/logread/v1-text.js';
import { jsonString } from '../../../lib/protocol/json.js';
import { formatText, parseEntry, V1Encoder } from '../../../lib/protocol/v1.js';

/** v1 NDJSON for entries, as memlogd encodes them. */
function encode(entries: Array<{ sec: number; nsec: number; source: Uint8Array; msg: Uint8Array }>): Buffer {
  const enc = new V1Encoder();
  const parts = entries.map((e) => {
    const out = Buffer.alloc(V1Encoder.worstCase(jsonString(e.source), e.msg.length));
    const n = enc.encode(out, 0, e.sec, e.nsec, jsonString(e.source), e.msg, 0, e.msg.length);
    return out.subarray(0, n);
  });
  return Buffer.concat(parts);
}

const expected = (ndjson: Buffer) => ndjson.toString('utf8').split('\n').filter(Boolean).map((l) => formatText(parseEntry(l)) + '\n').join('');

function run(ndjson: Buffer, cuts: number[]): { text: string; f: V1TextFormatter } {
  const f = new V1TextFormatter();
  const out: Buffer[] = [];
  let from = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    f.push(Buffer.from(ndjson.subarray(from, c)), (b) => out.push(Buffer.from(b))); // push reuses its chunk: give it a copy
    from = c;
  }
  f.push(Buffer.from(ndjson.subarray(from)), (b) => out.push(Buffer.from(b)));
  f.end((b) => out.push(Buffer.from(b)));
  return { text: Buffer.concat(out).toString('utf8'), f };
}

// bytes that exercise every path: plain ASCII, ; " \ < > &, controls, UTF-8, invalid bytes, U+2028
const byte = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }),
  fc.constantFrom(0x3b, 0x22, 0x5c, 0x3c, 0x3e, 0x26, 0x00, 0x09, 0x1b, 0x7f, 0xff, 0xc3, 0xa9, 0xe2, 0x80, 0xa8),
);
const bytes = (max: number) => fc.array(byte, { maxLength: max }).map((b) => Uint8Array.from(b));
const entry = fc.record({
  sec: fc.integer({ min: 0, max: 4_000_000_000 }),
  nsec: fc.integer({ min: 0, max: 999_999_999 }),
  source: bytes(20),
  msg: bytes(120),
});

describe('V1TextFormatter', () => {
  it('prints what formatText(parseEntry()) prints, for any entries cut into any chunks', () => {
    fc.assert(fc.property(fc.array(entry, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 8 }), (es, rawCuts) => {
      const ndjson = encode(es);
      const cuts = rawCuts.map((c) => (ndjson.length ? c % ndjson.length : 0));
      expect(run(ndjson, cuts).text).toBe(expected(ndjson));
    }), { numRuns: 300, seed: 42 });
  });
  it('takes the fast path for plain lines, JSON.parse only where a string was escaped', () => {
    const lines = encode([
      { sec: 1, nsec: 5, source: Buffer.from('web.out'), msg: Buffer.from('GET / 200') },
      { sec: 1, nsec: 5, source: Buffer.from('semi;colon'), msg: Buffer.from('plain') },
      { sec: 1, nsec: 5, source: Buffer.from('web'), msg: Buffer.from('quote " here') },
    ]);
    const { text, f } = run(lines, []);
    expect(text).toBe('1970-01-01T00:00:01.000000005Z;web.out;GET / 200\n1970-01-01T00:00:01.000000005Z;semi\\;colon;plain\n' +
      '1970-01-01T00:00:01.000000005Z;web;quote " here\n');
    expect([f.fast, f.slow]).toEqual([2, 1]);
  });
  it('a line that is no entry is a protocol error', () => {
    expect(() => new V1TextFormatter().push(Buffer.from('not json\n'), () => {})).toThrow(expect.objectContaining({ code: 'ERR_MEMLOGD_PROTOCOL' }));
  });
});
