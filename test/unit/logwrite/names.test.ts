import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatGap, formatLine, timeSeconds } from '../../../lib/logwrite/format.js';
import type { GapRecord } from '../../../lib/protocol/v2.js';
import { EMPTY_NAME, MAX_BASE_BYTES, STATE_FILE, currentName, fileBase, isTempName, parseFileName, rotatedName } from '../../../lib/logwrite/names.js';
import { Backoff } from '../../../lib/client/backoff.js';
import { parseFsync, parseSize } from '../../../lib/logwrite/options.js';

const HOSTILE = [
  '', '.', '..', '../x', '../../etc/passwd', '/abs', 'a/b', 'a\\b', 'nul\0byte', 'tab\there', 'nl\nx', 'sp ace',
  '%2F', 'a%b', '%empty', '%~abc', '-rf', '.hidden', 'x.log', 'x.log.0', 'x.log.0.gz', 'logwrite.state', 'logwrite.state.tmp',
  '\u202eevil', 'zero\u200bwidth', 'caf\u00e9', '\ufffd', 'del\x7f', 'semi;colon', 'x'.repeat(512), 'é'.repeat(300),
  '%'.repeat(200), '/'.repeat(512), 'memlogd', 'svc.out',
];

describe('file names', () => {
  it('keeps ordinary names as they are (reference layout)', () => {
    for (const n of ['svc', 'svc.out', 'onboot.001-dhcpcd.out', 'semi;colon', 'memlogd', 'caf\u00e9', 'a:b@c+d=e,f~g']) {
      expect(fileBase(n)).toBe(n);
    }
  });
  it('gives the empty source a visible name', () => {
    expect(fileBase('')).toBe(EMPTY_NAME);
    expect(currentName(fileBase(''))).toBe('%empty.log');
  });
  it('escapes unsafe bytes as %XX', () => {
    expect(fileBase('a/b')).toBe('a%2Fb');
    expect(fileBase('../x')).toBe('%2E.%2Fx');
    expect(fileBase('..')).toBe('%2E.');
    expect(fileBase('nul\0byte')).toBe('nul%00byte');
    expect(fileBase('sp ace')).toBe('sp%20ace');
    expect(fileBase('a%b')).toBe('a%25b');
    expect(fileBase('-rf')).toBe('%2Drf');
    expect(fileBase('\u202eevil')).toBe('%E2%80%AEevil');
  });
  it('stays inside the directory, within NAME_MAX, and never collides', () => {
    const seen = new Map<string, string>();
    for (const n of HOSTILE) {
      const b = fileBase(n);
      for (const f of [currentName(b), rotatedName(b, 9999, true), `${b}.log.${2 ** 40}.gz.tmp`]) {
        expect(Buffer.byteLength(f)).toBeLessThanOrEqual(255);
        expect(f).not.toContain('/');
        expect(f).not.toContain('\0');
        expect(path.resolve('/var/log', f).startsWith('/var/log/')).toBe(true);
        expect(f.startsWith('.')).toBe(false);
        expect(f.startsWith('-')).toBe(false);
        expect(f).not.toBe(STATE_FILE);
        expect(isTempName(currentName(b))).toBe(false);
      }
      expect(Buffer.byteLength(b)).toBeLessThanOrEqual(MAX_BASE_BYTES);
      expect(seen.has(b), `${JSON.stringify(n)} collides with ${JSON.stringify(seen.get(b))}`).toBe(false);
      seen.set(b, n);
    }
  });
  it('cuts long names and keeps them apart with a hash', () => {
    const a = fileBase('x'.repeat(300) + 'a');
    const b = fileBase('x'.repeat(300) + 'b');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^x+%~[0-9a-f]{16}$/);
    // an escape is never cut in half
    expect(fileBase('/'.repeat(300))).toMatch(/^(%2F)+%~[0-9a-f]{16}$/);
  });
  it('parses its own names back, and only those', () => {
    expect(parseFileName('svc.out.log')).toEqual({ base: 'svc.out', index: -1, gz: false });
    expect(parseFileName('svc.out.log.3')).toEqual({ base: 'svc.out', index: 3, gz: false });
    expect(parseFileName('svc.out.log.3.gz')).toEqual({ base: 'svc.out', index: 3, gz: true });
    expect(parseFileName('x.log.0.log')).toEqual({ base: 'x.log.0', index: -1, gz: false });
    expect(parseFileName('x.log.log.0')).toEqual({ base: 'x.log', index: 0, gz: false });
    for (const n of ['.log', 'logwrite.state', 'logwrite.state.tmp', 'x.log.01', 'x.txt', 'x.log.gz', 'a.log.1.gz.tmp']) {
      expect(parseFileName(n)).toBeNull();
    }
    for (const n of HOSTILE) {
      const b = fileBase(n);
      expect(parseFileName(currentName(b))).toEqual({ base: b, index: -1, gz: false });
      expect(parseFileName(rotatedName(b, 7, true))).toEqual({ base: b, index: 7, gz: true });
    }
  });
});

describe('line format', () => {
  const line = { source: 'svc.out', time: '2026-11-21T05:40:00.989173765Z', msg: 'hello', firstSeq: 4, lastSeq: 4, pieces: 1 };
  it('writes the reference text form with whole seconds', () => {
    expect(formatLine(line, 'text')).toBe('2026-11-21T05:40:00Z svc.out hello\n');
    expect(timeSeconds('2026-11-21T05:40:00Z')).toBe('2026-11-21T05:40:00Z');
    expect(timeSeconds('2026-11-21T06:40:00.5+01:00')).toBe('2026-11-21T05:40:00Z');
  });
  it('keeps one line per entry', () => {
    expect(formatLine({ ...line, msg: 'a\nb' }, 'text')).toBe('2026-11-21T05:40:00Z svc.out a\\nb\n');
  });
  it('writes NDJSON with seq, and the pieces of a joined line', () => {
    expect(JSON.parse(formatLine(line, 'json'))).toEqual({ seq: 4, time: line.time, source: 'svc.out', stream: 'stdout', msg: 'hello' });
    const joined = JSON.parse(formatLine({ ...line, source: 'x', lastSeq: 9, pieces: 3 }, 'json'));
    expect(joined).toMatchObject({ seq: 4, lastSeq: 9, pieces: 3, stream: 'stderr' });
  });
  it('says what a gap is', () => {
    const t = Date.parse('2026-11-21T05:40:00Z');
    expect(formatGap({ type: 'gap', from: 10, to: 57, count: 48, reason: 'evicted' }, 'ab', t, 'text'))
      .toBe('2026-11-21T05:40:00Z memlogd gap: 48 entries (seq 10-57) evicted by memlogd before logwrite could write them\n');
    expect(formatGap({ type: 'gap', from: 1, to: 1, count: 1, reason: 'lagged' }, 'ab', t, 'text')).toContain('fell behind and missed 1 entry (seq 1-1)');
    expect(formatGap({ type: 'gap', from: 0, to: 0, count: 0, reason: 'restarted', previous: 'aa:5' }, 'bb', t, 'text'))
      .toContain('memlogd restarted (was aa:5, now instance bb)');
    expect(JSON.parse(formatGap({ type: 'gap', from: 3, to: 4, count: 2, reason: 'lagged' }, 'ab', t, 'json')))
      .toEqual({ type: 'gap', time: '2026-11-21T05:40:00.000Z', from: 3, to: 4, count: 2, reason: 'lagged' });
    // whose lines were lost, in both forms
    const g: GapRecord = { type: 'gap', from: 3, to: 5, count: 3, reason: 'lagged', sources: { web: 2, 'd b': 1 } };
    expect(formatGap(g, 'ab', t, 'text')).toBe('2026-11-21T05:40:00Z memlogd gap: logwrite fell behind and missed 3 entries (seq 3-5); '
      + 'memlogd evicted them before they were written; by source: "web" 2, "d b" 1\n');
    expect(JSON.parse(formatGap(g, 'ab', t, 'json')).sources).toEqual({ web: 2, 'd b': 1 });
  });
});

describe('options', () => {
  it('parses sizes', () => {
    expect(parseSize('1048576')).toBe(1048576);
    expect(parseSize('512k')).toBe(512 * 1024);
    expect(parseSize('10M')).toBe(10 * 1024 * 1024);
    expect(parseSize('1GiB')).toBe(1024 ** 3);
    expect(() => parseSize('-1')).toThrow();
    expect(() => parseSize('1.5M')).toThrow();
  });
  it('parses fsync policies', () => {
    expect(parseFsync('line')).toEqual({ mode: 'line' });
    expect(parseFsync('never')).toEqual({ mode: 'never' });
    expect(parseFsync('interval')).toEqual({ mode: 'interval', ms: 1000 });
    expect(parseFsync('250ms')).toEqual({ mode: 'interval', ms: 250 });
    expect(parseFsync('2s')).toEqual({ mode: 'interval', ms: 2000 });
    expect(() => parseFsync('sometimes')).toThrow();
    expect(() => parseFsync('0')).toThrow();
  });
  it('backs off exponentially, bounded, with jitter', () => {
    const b = new Backoff(100, 5000);
    const waits = Array.from({ length: 20 }, () => b.next());
    for (const [i, w] of waits.entries()) {
      const bound = Math.min(5000, 100 * 2 ** i);
      expect(w).toBeGreaterThanOrEqual(bound / 2);
      expect(w).toBeLessThanOrEqual(bound);
    }
    b.reset();
    expect(b.next()).toBeLessThanOrEqual(100);
  });
});
