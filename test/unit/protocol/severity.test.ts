import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  facilityOf, packPri, parseFacility, parseSeverity, parseSeverityRange, priOfPrefix, priOfSyslog, priorityBounds, severityOf, streamSeverity,
} from '../../../lib/protocol/severity.js';
import { identName, parsePri, parseSyslog } from '../../../lib/protocol/syslog.js';

const b = (s: string) => Buffer.from(s, 'utf8');
const text = (buf: Buffer, m: { start: number; end: number }) => buf.toString('utf8', m.start, m.end);

describe('severities', () => {
  it('names and numbers, aliases, case; nothing else', () => {
    expect(['emerg', 'ALERT', 'crit', 'err', 'error', 'warning', 'warn', 'notice', 'info', 'debug', '0', '7'].map(parseSeverity))
      .toEqual([0, 1, 2, 3, 3, 4, 4, 5, 6, 7, 0, 7]);
    for (const bad of ['', '8', '-1', 'errr', '3.0', ' ']) expect(parseSeverity(bad), bad).toBeNull();
    expect(['kern', 'user', 'daemon', 'local7', '23'].map(parseFacility)).toEqual([0, 1, 3, 23, 23]);
    expect(parseFacility('24')).toBeNull();
  });

  it('a -p value as journalctl reads it: one level means it and everything more severe; a range in either order', () => {
    expect(parseSeverityRange('err')).toEqual([0, 3]);
    expect(parseSeverityRange('warning..err')).toEqual([3, 4]);
    expect(parseSeverityRange('3..4')).toEqual([3, 4]);
    expect(parseSeverityRange('debug..emerg')).toEqual([0, 7]);
    for (const bad of ['..', 'err..', 'x..err', 'fatal']) expect(parseSeverityRange(bad), bad).toBeNull();
  });

  it("a request's priority: a severity or a [from, to] pair, nothing looser", () => {
    expect(priorityBounds(4)).toEqual([0, 4]);
    expect(priorityBounds([2, 5])).toEqual([2, 5]);
    for (const bad of [8, -1, 1.5, '3', [5, 2], [1], [1, 2, 3], null, {}]) expect(priorityBounds(bad), JSON.stringify(bad)).toBeNull();
  });

  it('one byte keeps severity and facility, or severity and "facility unknown"', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 7 }), fc.option(fc.integer({ min: 0, max: 23 })), (sev, fac) => {
      const p = packPri(sev, fac);
      expect(p).toBeLessThan(256);
      expect(severityOf(p)).toBe(sev);
      expect(facilityOf(p)).toBe(fac);
    }));
    expect(streamSeverity('stdout')).toBe(6);
    expect(streamSeverity('stderr')).toBe(3);
    // a bare <N> keeps the source's facility; N >= 8 names its own; a syslog PRI always does
    expect(facilityOf(priOfPrefix(3))).toBeNull();
    expect(facilityOf(priOfPrefix(3, 0))).toBe(0);
    expect([severityOf(priOfPrefix(14, 0)), facilityOf(priOfPrefix(14, 0))]).toEqual([6, 1]);
    expect([severityOf(priOfSyslog(0)), facilityOf(priOfSyslog(0))]).toEqual([0, 0]);
    expect([severityOf(priOfSyslog(191)), facilityOf(priOfSyslog(191))]).toEqual([7, 23]);
  });
});

describe('syslog messages', () => {
  it('<PRI>: 1-3 digits, no leading zero, at most 191', () => {
    expect(parsePri(b('<0>x'), 0, 4)).toEqual([0, 3]);
    expect(parsePri(b('<191>'), 0, 5)).toEqual([191, 5]);
    for (const bad of ['<192>', '<01>', '<>', '<1234>', '<1', '1>', '<a>']) expect(parsePri(b(bad), 0, bad.length), bad).toBeNull();
  });

  it('RFC 3164 as syslog(3) sends it: timestamp, ident, [pid], text', () => {
    const m = b('<30>Dec  2 05:21:46 myprog[123]: hello: world');
    const r = parseSyslog(m);
    expect(r).toMatchObject({ pri: 30, ident: 'myprog', claimedPid: '123', format: '3164' });
    expect(text(m, r)).toBe('hello: world');
    // logger --rfc3164 puts the hostname before the tag
    const host = b('<28>Dec  2 05:21:46 vm backup: disk almost full');
    expect(parseSyslog(host)).toMatchObject({ pri: 28, ident: 'backup' });
    expect(text(host, parseSyslog(host))).toBe('disk almost full');
    // ...but a message whose text has a colon after its first word is not one with a hostname
    const noHost = b('<28>Dec  2 05:21:46 backup: disk: full');
    expect(parseSyslog(noHost)).toMatchObject({ ident: 'backup' });
    expect(text(noHost, parseSyslog(noHost))).toBe('disk: full');
    const bare = b('<13>busybox: hi\n\0');
    const q = parseSyslog(bare);
    expect(q).toMatchObject({ pri: 13, ident: 'busybox', claimedPid: null });
    expect(text(bare, q)).toBe('hi');
  });

  it('RFC 5424: APP-NAME, PROCID, MSGID, structured data, the BOM left out', () => {
    const m = b('<165>1 2026-12-02T05:00:00.1Z host app 42 ID7 [ex@32473 a="1" b="]\\""] \ufeffthe text');
    const r = parseSyslog(m);
    expect(r).toMatchObject({ pri: 165, ident: 'app', claimedPid: '42', msgId: 'ID7', structured: '[ex@32473 a="1" b="]\\""]', format: '5424' });
    expect(text(m, r)).toBe('the text');
    const nil = b('<14>1 - - - - - -');
    expect(parseSyslog(nil)).toMatchObject({ pri: 14, ident: null, structured: '-', format: '5424' });
    expect(text(nil, parseSyslog(nil))).toBe('');
  });

  it('what does not parse is kept whole: no PRI, a bad PRI, no tag', () => {
    for (const s of ['no pri at all', '<999>too big', '']) {
      const m = b(s);
      const r = parseSyslog(m);
      expect(r).toMatchObject({ pri: null, ident: null, format: 'raw' });
      expect(text(m, r)).toBe(s);
    }
    const notag = b('<11>just words without a colon');
    expect(parseSyslog(notag)).toMatchObject({ pri: 11, ident: null, format: '3164' });
    expect(text(notag, parseSyslog(notag))).toBe('just words without a colon');
  });

  it('never throws, and the text lies inside the datagram, for any bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom('', '<13>', '<165>1 ', '<13>Dec  2 05:21:46 '), (bytes, head) => {
      const m = Buffer.concat([b(head), Buffer.from(bytes)]);
      const r = parseSyslog(m);
      expect(r.start).toBeGreaterThanOrEqual(0);
      expect(r.start).toBeLessThanOrEqual(r.end);
      expect(r.end).toBeLessThanOrEqual(m.length);
      if (r.ident !== null) expect(identName(r.ident)).toMatch(/^[!-~]{1,48}$/);
    }), { numRuns: 2000, seed: 13 });
  });

  it('a program name as a source name: printable ASCII, no /, at most 48', () => {
    expect(identName('cron')).toBe('cron');
    expect(identName('a/b c\u00e9')).toBe('a_b_c_');
    expect(identName('x'.repeat(60))).toHaveLength(48);
    expect(identName('')).toBe('_');
  });
});
