import { describe, expect, it } from 'vitest';
import { formatEntry, formatGap, formatStats, hashName, humanBytes, humanDuration, nowTime, PALETTE, sourceColor, table } from '../../../lib/logread/format.js';
import { gapBanner } from '../../../lib/protocol/gap.js';
import { formatText, gapMessageV1, type GapRecord } from '../../../lib/protocol/index.js';

const ESC = '\x1b';
const entry = { time: '2026-11-21T05:40:00.989173765Z', source: 'svc.out', msg: 'hello <world> & ;' };

describe('source colors', () => {
  it('are stable: the same name always gets the same color, in every process', () => {
    expect(sourceColor('svc.out')).toBe(sourceColor('svc.out'));
    // FNV-1a is fixed: these values must never change between versions (users learn colors)
    expect(hashName('')).toBe(0x811c9dc5);
    expect(hashName('a')).toBe(0xe40c292c);
    expect(sourceColor('a')).toBe(PALETTE[0xe40c292c % PALETTE.length]);
  });
  it('come from the palette, never red (red is for gaps), and differ between names', () => {
    const names = Array.from({ length: 40 }, (_, i) => `container-${i}`);
    const colors = new Set(names.map(sourceColor));
    for (const c of colors) {
      expect(PALETTE).toContain(c);
      expect(c).not.toMatch(/^(31|91)$/);
    }
    expect(colors.size).toBeGreaterThan(4);
  });
  it('hash the UTF-8 bytes (non-ASCII names are stable too)', () => {
    expect(hashName('é')).toBe(hashName(Buffer.from('é', 'utf8').toString('utf8')));
    expect(hashName('é')).not.toBe(hashName('e'));
  });
});

describe('entry lines', () => {
  it('plain: exactly the reference text line', () => {
    expect(formatEntry(entry, false)).toBe(formatText(entry));
    expect(formatEntry({ ...entry, source: 'semi;colon' }, false)).toBe('2026-11-21T05:40:00.989173765Z;semi\\;colon;hello <world> & ;');
  });
  it('colored: same fields and separators, time dimmed, source in its color', () => {
    const line = formatEntry(entry, true);
    expect(line).toBe(`${ESC}[2m${entry.time}${ESC}[0m;${ESC}[${sourceColor('svc.out')}msvc.out${ESC}[0m;${entry.msg}`);
    // without the escapes it is the plain line
    expect(line.replace(/\x1b\[[0-9;]*m/g, '')).toBe(formatText(entry));
    expect(formatEntry({ ...entry, source: 'a;b' }, true).replace(/\x1b\[[0-9;]*m/g, '')).toBe(formatText({ ...entry, source: 'a;b' }));
  });
  it('colored: a v1 gap entry from memlogd is shown in bold red', () => {
    const g = { ...entry, source: 'memlogd', msg: 'gap: this reader fell behind and missed 3 entries (seq 1-3), evicted before it read them' };
    expect(formatEntry(g, true)).toBe(`${ESC}[1;31m${formatText(g)}${ESC}[0m`);
    expect(formatEntry({ ...g, msg: 'memlogd started' }, true)).not.toContain('1;31m');
  });
});

describe('gaps', () => {
  const lagged: GapRecord = { type: 'gap', from: 1000, to: 1047, count: 48, reason: 'lagged' };
  const now = Date.UTC(2026, 10, 21, 5, 40, 0, 123);
  it('plain: a normal text line <now>;memlogd;<v1 gap message>', () => {
    expect(formatGap(lagged, false, now)).toBe(`2026-11-21T05:40:00.123Z;memlogd;${gapMessageV1(lagged)}`);
    expect(formatGap(lagged, false, now)).not.toContain(ESC);
  });
  it('on a terminal: a bold red banner', () => {
    expect(gapBanner(lagged)).toBe('--- memlogd: 48 entries missed (lagged, seq 1000-1047) ---');
    expect(formatGap(lagged, true, now)).toBe(`${ESC}[1;31m--- memlogd: 48 entries missed (lagged, seq 1000-1047) ---${ESC}[0m`);
    expect(gapBanner({ type: 'gap', from: 5, to: 5, count: 1, reason: 'evicted' })).toBe('--- memlogd: 1 entry missed (evicted, seq 5-5) ---');
  });
  it('whose lines were lost: all of them in the plain line, the five biggest in the banner', () => {
    const sources = { web: 40, db: 3, 'a "q"': 1, b: 1, c: 1, d: 1, e: 1 };
    const g: GapRecord = { ...lagged, sources };
    expect(formatGap(g, false, now)).toBe('2026-11-21T05:40:00.123Z;memlogd;gap: this reader fell behind and missed 48 entries (seq 1000-1047), '
      + 'evicted before it read them; by source: "web" 40, "db" 3, "a \\"q\\"" 1, "b" 1, "c" 1, "d" 1, "e" 1');
    expect(gapBanner(g)).toBe('--- memlogd: 48 entries missed (lagged, seq 1000-1047); by source: "web" 40, "db" 3, "a \\"q\\"" 1, "b" 1, "c" 1, '
      + 'and 2 more sources with 2 ---');
    expect(gapBanner({ type: 'gap', from: 0, to: 9, count: 10, reason: 'restarted', sources: { web: 10 } }))
      .toBe('--- memlogd restarted: 10 entries of the new instance missed (seq 0-9); by source: "web" 10 ---');
  });
  it('restarted: says so, with or without entries missed', () => {
    expect(gapBanner({ type: 'gap', from: 0, to: 0, count: 0, reason: 'restarted', previous: 'ab:3' })).toBe('--- memlogd restarted ---');
    expect(gapBanner({ type: 'gap', from: 0, to: 9, count: 10, reason: 'restarted' }))
      .toBe('--- memlogd restarted: 10 entries of the new instance missed (seq 0-9) ---');
  });
  it('nowTime is the wire time format', () => {
    expect(nowTime(Date.UTC(2026, 10, 21, 5, 40, 0, 0))).toBe('2026-11-21T05:40:00Z');
    expect(nowTime(Date.UTC(2026, 10, 21, 5, 40, 0, 500))).toBe('2026-11-21T05:40:00.5Z');
  });
});

describe('stats', () => {
  const stats = {
    type: 'stats' as const, instance: 'b5f1c2d3e4a5b6c7', uptime: 3725.5,
    store: { lines: 4980, bytes: 498000, maxLines: 5000, maxBytes: 8388608, oldest: 1020, next: 6000, oldestTime: '2026-11-21T05:40:00.1Z', evicted: 1020 },
    sources: [
      { name: 'svc.out', lines: 10, bytes: 100, totalLines: 12, totalBytes: 120, evicted: 2, partial: 0, pid: 312, uid: 0, fds: 1, firstSeen: 'x', lastSeen: '2026-11-21T05:41:00Z' },
      { name: 'memlogd', lines: 3, bytes: 2048, totalLines: 3, totalBytes: 2048, evicted: 0, partial: 0, pid: -1, uid: -1, fds: 0, firstSeen: 'x', lastSeen: '2026-11-21T05:40:00Z' },
    ],
    readers: [{ id: 3, mode: 'follow', pid: 401, uid: 0, position: 5990, lag: 10, gaps: 0, missed: 0, sent: 5990 }],
  };
  it('is a readable report: daemon, store, sources table, readers table', () => {
    const text = formatStats(stats);
    expect(text).toBe([
      'memlogd b5f1c2d3e4a5b6c7, up 1h2m',
      'store:    4980 / 5000 lines (100%), 486 KiB / 8.0 MiB (6%)',
      'entries:  seq 1020..5999, oldest 2026-11-21T05:40:00.1Z, 1020 evicted so far',
      '',
      'sources (2):',
      'SOURCE   LINES    BYTES  TOTAL LINES  TOTAL BYTES  EVICTED  PARTIAL  PID  UID  FDS  LAST SEEN',
      'svc.out     10    100 B           12        120 B        2        0  312    0    1  2026-11-21T05:41:00Z',
      'memlogd      3  2.0 KiB            3      2.0 KiB        0        0    -    -    0  2026-11-21T05:40:00Z',
      '',
      'readers (1):',
      'ID  MODE    PID  UID  POSITION  LAG  GAPS  MISSED  SENT',
      ' 3  follow  401    0      5990   10     0       0  5990',
    ].join('\n'));
  });
  it('copes with missing parts (an older or newer memlogd)', () => {
    const text = formatStats({ type: 'stats' });
    expect(text).toContain('memlogd -, up -');
    expect(text).toContain('sources (0):');
    expect(text).toContain('readers (0):');
  });
  it('table aligns columns without trailing spaces', () => {
    expect(table(['A', 'NUM'], [['x', 1], ['long', 100]])).toBe('A     NUM\nx       1\nlong  100');
    expect(table(['A', 'B'], [['x', undefined]])).toBe('A  B\nx  -');
  });
  it('human units', () => {
    expect(humanBytes(0)).toBe('0 B');
    expect(humanBytes(1536)).toBe('1.5 KiB');
    expect(humanBytes(8 * 1024 * 1024)).toBe('8.0 MiB');
    expect(humanBytes('x')).toBe('-');
    expect(humanDuration(12.5)).toBe('12s');
    expect(humanDuration(61)).toBe('1m1s');
    expect(humanDuration(90061)).toBe('1d1h');
    expect(humanDuration(undefined)).toBe('-');
  });
});
