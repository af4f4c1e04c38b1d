import { describe, expect, it } from 'vitest';
import { PARTIAL } from '../../../lib/daemon/framing.js';
import { LinePriority, parseLevelPrefix } from '../../../lib/daemon/priority.js';
import { codeOf } from '../../../lib/protocol/errors.js';
import { facilityOf, packPri, severityOf } from '../../../lib/protocol/severity.js';

const b = (s: string) => Buffer.from(s);
const INFO = packPri(6, null);

describe('LinePriority', () => {
  it('without the prefix option every line has the default and keeps its bytes, <N> included', () => {
    const lp = new LinePriority({ pri: INFO, prefix: false });
    expect(lp.line(b('<3>x'), 0, 4, 0)).toBe(INFO);
    expect(lp.start).toBe(0);
  });

  it('with it, <N> gives the severity (and facility, N >= 8) and is taken off; the pieces of a line keep the first one', () => {
    const lp = new LinePriority({ pri: packPri(6, 0), prefix: true });
    let p = lp.line(b('<3>disk error'), 0, 12, 0);
    expect([severityOf(p), facilityOf(p), lp.start]).toEqual([3, 0, 3]);
    p = lp.line(b('<12>long line, first piece'), 0, 26, PARTIAL);
    expect([severityOf(p), facilityOf(p)]).toEqual([4, 1]);
    // the next piece starts with text that looks like a prefix: it is text, the line's priority holds
    p = lp.line(b('<7>still the same line'), 0, 21, 0);
    expect([severityOf(p), facilityOf(p), lp.start]).toEqual([4, 1, 0]);
    // a line without a prefix has the default
    p = lp.line(b('plain'), 0, 5, 0);
    expect([p, lp.start]).toEqual([packPri(6, 0), 0]);
    // not a prefix: <8 (no >), <0003>, <200>
    for (const s of ['<8 x', '<0003>x', '<200>x']) {
      expect(lp.line(b(s), 0, s.length, 0), s).toBe(packPri(6, 0));
      expect(lp.start).toBe(0);
    }
  });

  it('a batch: null when nothing can differ, else each line with its start moved past its prefix', () => {
    const buf = b('<3>a\n<6>b\nc\n');
    const starts = Int32Array.from([0, 5, 10]);
    const ends = Int32Array.from([4, 9, 11]);
    expect(new LinePriority({ pri: INFO, prefix: false }).batch(buf, starts, ends, new Uint8Array(3), 3)).toBeNull();
    const pris = new LinePriority({ pri: INFO, prefix: true }).batch(buf, starts, ends, new Uint8Array(3), 3)!;
    expect([...pris.subarray(0, 3)].map(severityOf)).toEqual([3, 6, 6]);
    expect([...starts]).toEqual([3, 8, 10]);
  });
});

describe('--level-prefix values', () => {
  it('GLOB or GLOB:FACILITY', () => {
    const k = parseLevelPrefix('kmsg:kern');
    expect(k.facility).toBe(0);
    expect(k.glob.test('kmsg')).toBe(true);
    expect(k.glob.test('kmsg.out')).toBe(false);
    expect(parseLevelPrefix('app-*').facility).toBeNull();
    expect(parseLevelPrefix('app-*').glob.test('app-web')).toBe(true);
  });

  it('a bad facility or glob is a usage error', () => {
    for (const bad of ['kmsg:kernel', 'kmsg:24', 'a[:user']) {
      let err: unknown;
      try {
        parseLevelPrefix(bad);
      } catch (e) {
        err = e;
      }
      expect(codeOf(err), bad).toBe('ERR_USAGE');
    }
  });
});
