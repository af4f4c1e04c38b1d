import { describe, expect, it } from 'vitest';
import { escapeJsonInto, formatText, formatTime, jsonString, maxEscapedLength, parseEntry, parseTime, streamOf, V1Encoder } from '../../../lib/protocol/index.js';

const esc = (b: Buffer | string) => {
  const src = typeof b === 'string' ? Buffer.from(b) : b;
  const out = Buffer.alloc(maxEscapedLength(src.length));
  return out.subarray(0, escapeJsonInto(src, 0, src.length, out, 0)).toString('utf8');
};

describe('formatTime (Go RFC3339Nano, UTC)', () => {
  it('trims trailing zeros of the fraction', () => {
    const sec = Date.UTC(2026, 10, 21, 5, 27, 11) / 1000;
    expect(formatTime(sec, 692448000)).toBe('2026-11-21T05:27:11.692448Z');
    expect(formatTime(sec, 791621680)).toBe('2026-11-21T05:27:11.79162168Z');
    expect(formatTime(sec, 5)).toBe('2026-11-21T05:27:11.000000005Z');
  });
  it('omits the fraction when it is zero', () => {
    expect(formatTime(0, 0)).toBe('1970-01-01T00:00:00Z');
  });
  it('round-trips through parseTime', () => {
    expect(parseTime('2026-11-21T05:40:00.943238204Z')).toEqual([Date.UTC(2026, 10, 21, 5, 40, 0) / 1000, 943238204]);
    expect(parseTime('2026-11-21T05:40:00Z')).toEqual([Date.UTC(2026, 10, 21, 5, 40, 0) / 1000, 0]);
    expect(parseTime('yesterday')).toBeNull();
  });
});

describe('JSON escaping like Go encoding/json', () => {
  it('escapes HTML characters, quotes, backslashes and controls', () => {
    expect(esc(`<a href='x'>&</a>`)).toBe(`\\u003ca href='x'\\u003e\\u0026\\u003c/a\\u003e`);
    expect(esc('tab\there "quoted" back\\slash ctrl\x01\x1b[31mred')).toBe('tab\\there \\"quoted\\" back\\\\slash ctrl\\u0001\\u001b[31mred');
    expect(esc('\b\f\n\r')).toBe('\\b\\f\\n\\r');
    expect(esc('\x7f')).toBe('\x7f');
  });
  it('keeps valid UTF-8 and replaces each invalid byte with \\ufffd', () => {
    expect(esc(Buffer.from('unicode \xc3\xa9\xe2\x82\xac', 'latin1'))).toBe('unicode é€');
    expect(esc(Buffer.from('invalid utf8: \xff\xfe end', 'latin1'))).toBe('invalid utf8: \\ufffd\\ufffd end');
    // truncated sequence: one replacement per byte, as utf8.DecodeRune does
    expect(esc(Buffer.from([0xe2, 0x82, 0x41]))).toBe('\\ufffd\\ufffdA');
    // surrogate halves and overlong forms are invalid in Go
    expect(esc(Buffer.from([0xed, 0xa0, 0x80]))).toBe('\\ufffd\\ufffd\\ufffd');
    expect(esc(Buffer.from([0xc0, 0xaf]))).toBe('\\ufffd\\ufffd');
    expect(esc(Buffer.from('😀'))).toBe('😀');
  });
  it('escapes U+2028 and U+2029', () => {
    expect(esc('a\u2028b\u2029c')).toBe('a\\u2028b\\u2029c');
  });
  it('never exceeds the worst case', () => {
    const all = Buffer.alloc(256);
    for (let i = 0; i < 256; i++) all[i] = i;
    const out = esc(all);
    expect(Buffer.byteLength(out)).toBeLessThanOrEqual(maxEscapedLength(256));
    expect(JSON.parse(`"${out}"`)).toHaveLength(256);
  });
});

describe('v1 entries', () => {
  it('encodes the reference shape, keys in order', () => {
    const enc = new V1Encoder();
    const msg = Buffer.from('hello');
    const name = jsonString(Buffer.from('svc.out'));
    const out = Buffer.alloc(V1Encoder.worstCase(name, msg.length));
    const n = enc.encode(out, 0, Date.UTC(2026, 10, 21, 5, 40, 0) / 1000, 989173765, name, msg, 0, msg.length);
    expect(out.subarray(0, n).toString()).toBe('{"time":"2026-11-21T05:40:00.989173765Z","source":"svc.out","msg":"hello"}\n');
  });
  it('parses entries and rejects anything else with a code', () => {
    expect(parseEntry('{"time":"t","source":"s","msg":"m"}')).toEqual({ time: 't', source: 's', msg: 'm' });
    expect(() => parseEntry('nope')).toThrow(expect.objectContaining({ code: 'ERR_MEMLOGD_PROTOCOL' }));
    expect(() => parseEntry('{"time":1}')).toThrow(expect.objectContaining({ code: 'ERR_MEMLOGD_PROTOCOL' }));
  });
  it('formats text lines with ; escaped in the source only', () => {
    expect(formatText({ time: 'T', source: 'semi;colon', msg: 'a;b' })).toBe('T;semi\\;colon;a;b');
  });
  it('derives the stream from the .out convention', () => {
    expect(streamOf('svc.out')).toBe('stdout');
    expect(streamOf('svc')).toBe('stderr');
  });
});
