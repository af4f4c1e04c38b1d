import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../../support/cleanup.js';
import { retryDelay } from '../../../lib/client/backoff.js';
import { encodeRequest as requestLine } from '../../../lib/protocol/v2.js';
import { CursorFile, readCursorFile, writeCursorFile } from '../../../lib/logread/cursor-file.js';
import { buildRequest, modeOf, needsV2, parseDuration, parseTimeArg, useColor, type LogreadOptions } from '../../../lib/logread/request.js';
import { resumeRequest } from '../../../lib/logread/session.js';

const NOW = Date.UTC(2026, 10, 21, 6, 0, 0);
const S = '/q.sock';

const { tmpDir: tmp } = useCleanups();

function usage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect((err as { code?: string }).code).toBe('ERR_USAGE');
    return (err as Error).message;
  }
  throw new Error('no usage error');
}

describe('relative and absolute times', () => {
  it('parses durations', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1w')).toBe(7 * 86_400_000);
    for (const bad of ['', '30', 's', '1x', '1h 30m', '-1s', 'h1', '1.h']) expect(parseDuration(bad)).toBeNull();
  });
  it('a duration means now minus that', () => {
    expect(parseTimeArg('30s', NOW)).toBe('2026-11-21T05:59:30Z');
    expect(parseTimeArg('-30s', NOW)).toBe('2026-11-21T05:59:30Z');
    expect(parseTimeArg('10m', NOW)).toBe('2026-11-21T05:50:00Z');
    expect(parseTimeArg('2h', NOW)).toBe('2026-11-21T04:00:00Z');
    expect(parseTimeArg('1d', NOW)).toBe('2026-11-20T06:00:00Z');
    expect(parseTimeArg('1.5s', NOW + 250)).toBe('2026-11-21T05:59:58.75Z');
    expect(parseTimeArg('now', NOW)).toBe('2026-11-21T06:00:00Z');
  });
  it('RFC3339 is taken as is, normalized to UTC', () => {
    expect(parseTimeArg('2026-11-21T05:00:00Z', NOW)).toBe('2026-11-21T05:00:00Z');
    expect(parseTimeArg('2026-11-21T05:00:00.123456789Z', NOW)).toBe('2026-11-21T05:00:00.123456789Z');
    expect(parseTimeArg('2026-11-21T07:00:00+02:00', NOW)).toBe('2026-11-21T05:00:00Z');
  });
  it('anything else is null', () => {
    for (const bad of ['yesterday', '2026-11-21', '2026-11-21T05:00:00', '10', '']) expect(parseTimeArg(bad, NOW)).toBeNull();
  });
});

describe('v1 or v2', () => {
  it('reference flags alone speak v1', () => {
    expect(needsV2({ socket: S })).toBe(false);
    expect(needsV2({ socket: S, follow: true })).toBe(false);
    expect(needsV2({ socket: S, dumpFollow: true, color: false })).toBe(false);
    expect(needsV2({ socket: S, sources: [], exclude: [] })).toBe(false);
  });
  it('every v2 option means v2', () => {
    const v2: Partial<LogreadOptions>[] = [
      { tail: 0 }, { since: '1h' }, { until: '1h' }, { sources: ['a'] }, { exclude: ['a'] }, { stream: 'stdout' }, { grep: 'x' },
      { json: true }, { stats: true }, { after: 'ab:1' }, { cursorFile: '/x' }, { retry: true },
    ];
    for (const o of v2) expect(needsV2({ socket: S, ...o }), JSON.stringify(o)).toBe(true);
  });
});

describe('the v2 request', () => {
  it('maps -F / -f / default to the mode', () => {
    expect(modeOf({ socket: S })).toBe('dump');
    expect(modeOf({ socket: S, follow: true })).toBe('follow');
    expect(modeOf({ socket: S, dumpFollow: true })).toBe('dump+follow');
    expect(modeOf({ socket: S, follow: true, dumpFollow: true })).toBe('dump+follow');
    expect(modeOf({ socket: S, stats: true })).toBe('stats');
  });
  it('carries every field, in the documented order, times resolved', () => {
    const r = buildRequest({
      socket: S, dumpFollow: true, grep: 'timeout|refused', tail: 100, until: '2026-11-21T06:00:00Z', since: '1h',
      stream: 'stderr', exclude: ['web-debug*'], sources: ['web*', 'db'], after: 'b5f1c2d3e4a5b6c7:1041', json: true, retry: true,
    }, NOW);
    expect(requestLine(r).toString()).toBe('{"mode":"dump+follow","after":"b5f1c2d3e4a5b6c7:1041","sources":["web*","db"],'
      + '"exclude":["web-debug*"],"stream":"stderr","since":"2026-11-21T05:00:00Z","until":"2026-11-21T06:00:00Z","tail":100,'
      + '"grep":"timeout|refused"}\n');
  });
  it('has only the mode without filters', () => {
    expect(buildRequest({ socket: S, json: true }, NOW)).toEqual({ mode: 'dump' });
    expect(buildRequest({ socket: S, follow: true, tail: 0 }, NOW)).toEqual({ mode: 'follow', tail: 0 });
    expect(buildRequest({ socket: S, stats: true, json: true, retry: true }, NOW)).toEqual({ mode: 'stats' });
  });
  it('refuses bad values with one clear usage line', () => {
    expect(usage(() => buildRequest({ socket: S, since: 'yesterday' }, NOW))).toMatch(/^--since: "yesterday" is neither an RFC3339 time/);
    expect(usage(() => buildRequest({ socket: S, until: '5' }, NOW))).toMatch(/^--until: /);
    expect(usage(() => buildRequest({ socket: S, stream: 'both' }, NOW))).toBe('--stream must be stdout or stderr, not "both"');
    expect(usage(() => buildRequest({ socket: S, grep: '(' }, NOW))).toMatch(/^--grep: .*regular expression/i);
    expect(usage(() => buildRequest({ socket: S, sources: ['[ab'] }, NOW))).toMatch(/^--source: unclosed \[/);
    expect(usage(() => buildRequest({ socket: S, exclude: ['[ab'] }, NOW))).toMatch(/^--exclude: /);
    expect(usage(() => buildRequest({ socket: S, after: 'nope' }, NOW))).toMatch(/^--after: "nope" is not a cursor/);
    expect(usage(() => buildRequest({ socket: S, tail: -1 }, NOW))).toMatch(/^--tail must be an integer >= 0/);
    expect(usage(() => buildRequest({ socket: S, stats: true, follow: true, sources: ['x'] }, NOW)))
      .toBe('--stats cannot be combined with -f, --source');
  });
  it('a reconnect resumes after the last entry received, without tail', () => {
    const first = buildRequest({ socket: S, follow: true, tail: 5, sources: ['a*'] }, NOW);
    expect(resumeRequest(first, null)).toBe(first);
    expect(resumeRequest(first, { instance: 'ab', seq: 7 })).toEqual({ mode: 'follow', sources: ['a*'], after: 'ab:7' });
    expect(resumeRequest({ mode: 'stats' }, { instance: 'ab', seq: 7 })).toEqual({ mode: 'stats' });
  });
});

describe('retry backoff', () => {
  it('grows exponentially, is capped, and jitters between 50% and 100%', () => {
    expect(retryDelay(0, 100, 5000, () => 1)).toBe(100);
    expect(retryDelay(0, 100, 5000, () => 0)).toBe(50);
    expect(retryDelay(3, 100, 5000, () => 1)).toBe(800);
    expect(retryDelay(10, 100, 5000, () => 1)).toBe(5000);
    expect(retryDelay(1000, 100, 5000, () => 0.5)).toBe(3750);
    for (let i = 0; i < 100; i++) {
      const d = retryDelay(i % 12);
      expect(d).toBeGreaterThanOrEqual(50);
      expect(d).toBeLessThanOrEqual(5000);
    }
  });
});

describe('colors', () => {
  const tty = Object.assign(new Writable(), { isTTY: true });
  const pipe = new Writable();
  it('only on a terminal, unless forced either way', () => {
    expect(useColor(undefined, tty, {})).toBe(true);
    expect(useColor(undefined, pipe, {})).toBe(false);
    expect(useColor(false, tty, {})).toBe(false);
    expect(useColor(true, pipe, {})).toBe(true);
  });
  it('NO_COLOR and TERM=dumb turn them off', () => {
    expect(useColor(undefined, tty, { NO_COLOR: '1' })).toBe(false);
    expect(useColor(undefined, tty, { TERM: 'dumb' })).toBe(false);
  });
});

describe('cursor file', () => {
  it('reads nothing from a missing or empty file, the cursor otherwise', () => {
    const d = tmp();
    expect(readCursorFile(path.join(d, 'none'))).toBeUndefined();
    fs.writeFileSync(path.join(d, 'empty'), '\n');
    expect(readCursorFile(path.join(d, 'empty'))).toBeUndefined();
    fs.writeFileSync(path.join(d, 'c'), 'b5f1c2d3e4a5b6c7:1041\n');
    expect(readCursorFile(path.join(d, 'c'))).toBe('b5f1c2d3e4a5b6c7:1041');
  });
  it('a file that does not hold a cursor is a usage error', () => {
    const d = tmp();
    fs.writeFileSync(path.join(d, 'bad'), 'hello');
    expect(usage(() => readCursorFile(path.join(d, 'bad')))).toMatch(/does not hold a cursor/);
    expect(usage(() => readCursorFile(d))).toMatch(/cannot read/); // a directory
  });
  it('is replaced atomically (temp file + rename), leaving no temp file', () => {
    const d = tmp();
    const f = path.join(d, 'cur');
    writeCursorFile(f, 'ab:1');
    const ino = fs.statSync(f).ino;
    writeCursorFile(f, 'ab:2');
    expect(fs.readFileSync(f, 'utf8')).toBe('ab:2\n');
    expect(fs.statSync(f).ino).not.toBe(ino); // a new file renamed over the old one
    expect(fs.readdirSync(d)).toEqual(['cur']);
  });
  it('throttles writes while running; flush writes the latest', () => {
    const d = tmp();
    const f = path.join(d, 'cur');
    const c = new CursorFile(f, 60_000);
    expect(c.read()).toBeUndefined();
    c.update('ab:1'); // first write: now
    expect(readCursorFile(f)).toBe('ab:1');
    c.update('ab:2');
    c.update('ab:3'); // within the interval: later
    expect(readCursorFile(f)).toBe('ab:1');
    c.flush();
    expect(readCursorFile(f)).toBe('ab:3');
    expect(c.cursor).toBe('ab:3');
    expect(fs.readdirSync(d)).toEqual(['cur']);
  });
  it('a directory that cannot be written is a usage error at start', () => {
    expect(usage(() => new CursorFile('/nonexistent-dir/x/cur').read())).toMatch(/^--cursor-file: cannot write in \/nonexistent-dir\/x: ENOENT/);
  });
  it('remembers a write error', () => {
    const c = new CursorFile('/nonexistent-dir/x/cur', 0);
    c.update('ab:1');
    expect(c.error).not.toBeNull();
  });
});
