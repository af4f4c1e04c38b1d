import { describe, expect, it } from 'vitest';
import { formatLoss, formatRecord, formatWallUs } from '../../../lib/kmsg/format.js';
import { Position } from '../../../lib/kmsg/relay.js';
import { decodeEscapes, parseRecord, splitRecords } from '../../../lib/kmsg/record.js';

const rec = (s: string) => parseRecord(Buffer.from(s, 'latin1'));
const T = Date.UTC(2026, 11, 2, 1, 53, 59) * 1000 + 566131;

describe('kmsg records', () => {
  it('parse the header: level, facility, seq, time, flag', () => {
    expect(rec('3,1234,5000123,-;disk error\n')).toEqual({
      prio: 3, level: 3, facility: 0, seq: 1234, tsUsec: 5000123, flag: '-', text: 'disk error', dict: [],
    });
    const user = rec('14,341,1161297572,-;from userspace');
    expect([user.level, user.facility]).toEqual([6, 1]);
  });
  it('tolerate missing and extra header fields', () => {
    expect(rec('6,7;short header')).toMatchObject({ prio: 6, seq: 7, tsUsec: -1, flag: '-', text: 'short header' });
    expect(rec('4,8,90,c,extra,more;with extras')).toMatchObject({ level: 4, seq: 8, tsUsec: 90, flag: 'c', text: 'with extras' });
    expect(rec('no header at all')).toMatchObject({ prio: 6, seq: -1, text: 'no header at all' });
    expect(rec('x,y;garbage numbers')).toMatchObject({ prio: 6, seq: -1, tsUsec: -1 });
  });
  it('attach dictionary lines to their record', () => {
    const r = rec('6,195,245365,-;acpi PNP0A08:00: _OSC: OS supports\n SUBSYSTEM=acpi\n DEVICE=+acpi:PNP0A08:00\n');
    expect(r.text).toBe('acpi PNP0A08:00: _OSC: OS supports');
    expect(r.dict).toEqual(['SUBSYSTEM=acpi', 'DEVICE=+acpi:PNP0A08:00']);
  });
  it('decode \\xNN of UTF-8, keep control bytes, DEL and the backslash escaped', () => {
    expect(decodeEscapes(Buffer.from('caf\\xc3\\xa9 \\xe2\\x82\\xac'), 0, 24)).toBe('café €');
    expect(rec('6,1,1,-;a\\x0ab\\x09c\\x5cd\\x7f\\x1b[31m').text).toBe('a\\x0ab\\x09c\\x5cd\\x7f\\x1b[31m');
    // bytes >= 0x80 that are not UTF-8 stay escaped (and so does a lone continuation byte)
    expect(rec('6,1,1,-;bad \\xff\\xfe, cut \\xc3 end, lone \\x80').text).toBe('bad \\xff\\xfe, cut \\xc3 end, lone \\x80');
    // a literal backslash-x in a message comes escaped from the kernel, and stays unambiguous
    expect(rec('6,1,1,-;literal \\x5cx41').text).toBe('literal \\x5cx41');
  });
  it('split a recording (what cat /dev/kmsg prints) into records', () => {
    const text = Buffer.from('6,1,10,-;one\n SUBSYSTEM=pci\n6,2,20,-;two\n\n6,3,30,-;three');
    expect(splitRecords(text).map(([s, e]) => parseRecord(text, s, e).text)).toEqual(['one', 'two', 'three']);
    expect(parseRecord(text, ...splitRecords(text)[0]).dict).toEqual(['SUBSYSTEM=pci']);
  });
});

describe('kmsg lines', () => {
  it('keep the reference shape with the level added and the dictionary attached', () => {
    const r = rec('3,1234,1,-;ACPI error\n SUBSYSTEM=acpi\n DEVICE=+acpi:PNP0A08:00');
    expect(formatRecord(r, T)).toBe('(1234) - 2026-12-02T01:53:59.566131Z: err: ACPI error [SUBSYSTEM=acpi DEVICE=+acpi:PNP0A08:00]');
    expect(formatRecord(r, T, false)).toBe('(1234) - 2026-12-02T01:53:59.566131Z: err: ACPI error');
    expect(formatWallUs(Date.UTC(2026, 0, 1) * 1000)).toBe('2026-01-01T00:00:00Z');
  });
  it('say how many records were lost, and which', () => {
    expect(formatLoss(10, 14, T)).toBe('(14) - 2026-12-02T01:53:59.566131Z: kmsg: lost 5 records (seq 10-14), overwritten by the kernel before they were read');
  });
});

describe('kmsg position', () => {
  const run = (p: Position, seqs: number[]) => seqs.map((s) => p.take(s));
  it('first start after boot: everything, and a jump is a loss', () => {
    const p = new Position('auto', null);
    const r = run(p, [0, 1, 5, 6]);
    expect(r.map((x) => x.relay)).toEqual([true, true, true, true]);
    expect(r[2].lost).toEqual([2, 4]);
  });
  it('a ring that starts late at the first start: the overwritten ones are lost', () => {
    expect(new Position('auto', null).take(100).lost).toEqual([0, 99]);
  });
  it('restart with a state: nothing twice; what was overwritten meanwhile is lost', () => {
    const p = new Position('auto', 50);
    expect(run(p, [40, 49]).map((x) => x.relay)).toEqual([false, false]);
    expect(p.take(50)).toEqual({ lost: null, relay: true });
    const q = new Position('auto', 50);
    expect(q.take(60)).toEqual({ lost: [50, 59], relay: true });
  });
  it('replay new: only what arrives after the start; all: everything again', () => {
    const p = new Position('new', null);
    expect(run(p, [3, 4]).map((x) => x.relay)).toEqual([false, false]);
    p.liveFrom(5);
    expect(p.take(5)).toEqual({ lost: null, relay: true });
    expect(new Position('all', 50).take(10).relay).toBe(true);
  });
});
