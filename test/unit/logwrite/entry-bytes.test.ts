// The byte-level entry finder against the string decoder, on lines memlogd's encoder makes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { entryBytes, type EntryBytes } from '../../../lib/logwrite/entry-bytes.js';
import { jsonString } from '../../../lib/protocol/json.js';
import { packPri } from '../../../lib/protocol/severity.js';
import { decodeRecord, V2Encoder, type V2Entry } from '../../../lib/protocol/v2.js';

// stdout's default priority: info, facility unknown
const PRI = packPri(6, null);

const byte = fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.constantFrom(0x22, 0x5c, 0x3c, 0x09, 0xc3, 0xa9, 0xff));
const entry = fc.record({
  seq: fc.oneof(fc.nat(), fc.constant(2 ** 53 - 1)),
  sec: fc.integer({ min: 0, max: 4_000_000_000 }),
  nsec: fc.integer({ min: 0, max: 999_999_999 }),
  source: fc.array(byte, { maxLength: 16 }),
  msg: fc.array(byte, { maxLength: 80 }),
  stdout: fc.boolean(),
  partial: fc.boolean(),
});

describe('entryBytes', () => {
  it('finds exactly what decodeRecord decodes, for the lines it takes; declines pieces and escapes', () => {
    const out = Buffer.alloc(4096);
    fc.assert(fc.property(entry, (x) => {
      const source = Buffer.from(x.source);
      const msg = Buffer.from(x.msg);
      const n = new V2Encoder().encode(out, 0, x.seq, x.sec, x.nsec, jsonString(source), x.stdout, msg, 0, msg.length, x.partial, PRI);
      const line = Buffer.from(out.subarray(0, n - 1));
      const p: EntryBytes = { seq: 0, t0: 0, t1: 0, s0: 0, s1: 0, m0: 0, m1: 0, stdout: false };
      const found = entryBytes(line, 0, line.length, line.includes(0x5c), p);
      const rec = decodeRecord(line.toString('utf8')) as V2Entry;
      if (!found) {
        expect(x.partial || line.includes(0x5c)).toBe(true);
        return;
      }
      expect(x.partial).toBe(false);
      expect({
        seq: p.seq, time: line.toString('utf8', p.t0, p.t1), source: line.toString('utf8', p.s0, p.s1),
        stream: p.stdout ? 'stdout' : 'stderr', msg: line.toString('utf8', p.m0, p.m1),
      }).toEqual({ ...rec, severity: undefined, facility: undefined });
    }), { numRuns: 500, seed: 7 });
  });
  it('declines records and other shapes', () => {
    const p: EntryBytes = { seq: 0, t0: 0, t1: 0, s0: 0, s1: 0, m0: 0, m1: 0, stdout: false };
    for (const l of ['{"type":"gap","from":1,"to":2,"count":2,"reason":"lagged"}', '{"seq":1,"time":"x","source":"a","stream":"stdout","level":6,"msg":"m"}',
      '{"seq":,"time":"2026-11-21T05:40:00Z","source":"a","stream":"stdout","msg":"m"}']) {
      expect(entryBytes(Buffer.from(l), 0, l.length, false, p), l).toBe(false);
    }
  });
});
