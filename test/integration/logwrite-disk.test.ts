// logwrite and the disk: exact rotation boundaries, the total cap, compression, and a full disk
// (a small tmpfs, when we may mount one) that logwrite waits out without losing or repeating a line.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startDaemon, waitFor } from '../support/helpers.js';
import { dirBytes, Feed, filesOf, fdCount, linesOf, msgOf, readLogFile, sleep, startLogwrite, waitStderr, useCleanups } from '../support/logwrite.js';

const { track, tmpDir, defer } = useCleanups();
const msgs = (out: string, source: string) => linesOf(out, source).map((l) => msgOf(l, source));
const sizes = (out: string, names: string[]) => names.map((n) => fs.statSync(path.join(out, n)).size);

describe('rotation boundaries', () => {
  it('fills a file exactly to the limit, rotates before the next line, gives a longer line a file of its own', async () => {
    const d = track(await startDaemon(['-max-line-len', '64']));
    const out = tmpDir();
    // "<20-byte time> b <msg>\n" is 24 + msg bytes: 23-byte messages make 47-byte lines, two fill 94
    const lines = ['a'.repeat(23), 'b'.repeat(23), 'c'.repeat(23), 'L'.repeat(71), 'd'.repeat(23)];
    const lw = track(startLogwrite(['-socket', d.query, '-log-dir', out, '-max-log-size', '94', '-max-log-files', '5']));
    const f = new Feed(d.log, 'b');
    f.write(lines.map((l) => l + '\n').join(''));
    f.close();
    await waitFor(() => msgs(out, 'b').length === lines.length, 'all lines');
    expect(await lw.stop()).toEqual({ code: 0, signal: null });
    expect(filesOf(out, 'b')).toEqual(['b.log.2', 'b.log.1', 'b.log.0', 'b.log']);
    expect(sizes(out, filesOf(out, 'b'))).toEqual([94, 47, 95, 47]);
    expect(msgs(out, 'b')).toEqual(lines);
  });
});

describe('total cap', () => {
  it('keeps the whole directory under --max-total-size, deleting the oldest rotated files first', async () => {
    const d = track(await startDaemon());
    const out = tmpDir();
    const CAP = 3000;
    const lw = track(startLogwrite(['-socket', d.query, '-log-dir', out, '-max-log-size', '500', '-max-log-files', '5', '--max-total-size', String(CAP)]));
    const sources = ['c0', 'c1', 'c2.out'];
    const expected = new Map(sources.map((s) => [s, Array.from({ length: 100 }, (_, i) => `${s} line ${String(i).padStart(3, '0')} ${'x'.repeat(10)}`)]));
    for (const s of sources) {
      // one source after the other: the first one's rotated files are the oldest
      const f = new Feed(d.log, s);
      f.write(expected.get(s)!.map((l) => l + '\n').join(''));
      f.close();
      await waitFor(() => msgs(out, s).at(-1) === expected.get(s)!.at(-1), `${s} written`);
      expect(dirBytes(out)).toBeLessThanOrEqual(CAP);
    }
    expect(await lw.stop()).toEqual({ code: 0, signal: null });
    expect(dirBytes(out)).toBeLessThanOrEqual(CAP);
    expect(dirBytes(out)).toBeGreaterThan(CAP - 600);
    // what is left of each source is its newest lines, without holes
    for (const s of sources) {
      const kept = msgs(out, s);
      expect(kept.length).toBeGreaterThan(0);
      expect(kept).toEqual(expected.get(s)!.slice(-kept.length));
    }
    // the first source lost the most: its rotated files were the oldest
    expect(msgs(out, 'c0').length).toBeLessThan(msgs(out, 'c2.out').length);
    expect(filesOf(out, 'c2.out').length).toBeGreaterThan(1);
  });
});

describe('compression', () => {
  it('gzips rotated files in the background; every one gunzips to the lines, in order', async () => {
    const d = track(await startDaemon());
    const out = tmpDir();
    const lw = track(startLogwrite(['-socket', d.query, '-log-dir', out, '-max-log-size', '400', '-max-log-files', '50', '--compress']));
    const lines = Array.from({ length: 200 }, (_, i) => `compressible line ${i} ${'z'.repeat(i % 40)}`);
    const f = new Feed(d.log, 'z.out');
    f.write(lines.map((l) => l + '\n').join(''));
    f.close();
    await waitFor(() => {
      const names = filesOf(out, 'z.out');
      return msgs(out, 'z.out').length === lines.length && names.slice(0, -1).every((n) => n.endsWith('.gz')) && names;
    }, 'all lines, rotated files compressed');
    expect(await lw.stop()).toEqual({ code: 0, signal: null });
    const names = filesOf(out, 'z.out');
    expect(names.length).toBeGreaterThan(10);
    for (const n of names.slice(0, -1)) {
      expect(n).toMatch(/^z\.out\.log\.\d+\.gz$/);
      const data = fs.readFileSync(path.join(out, n));
      expect([data[0], data[1]]).toEqual([0x1f, 0x8b]);
      expect(Buffer.byteLength(readLogFile(out, n))).toBeLessThanOrEqual(400);
    }
    expect(msgs(out, 'z.out')).toEqual(lines);
    expect(fs.readdirSync(out).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});

/** Mounts a small tmpfs on a temp dir (unmounted after the test); null when we may not. */
function tmpfs(size: string): string | null {
  const mnt = tmpDir();
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt], { encoding: 'utf8' });
  if (mount.status !== 0) {
    console.warn(`full-disk test skipped: cannot mount a tmpfs (${(mount.stderr || mount.error?.message || '').trim()}); it needs root`);
    return null;
  }
  defer(() => {
    spawnSync('umount', [mnt]);
  });
  return mnt;
}

describe('full disk', () => {
  it('stops writing when the disk is full, says so once, and writes every line exactly once when space returns', async (ctx) => {
    const mnt = tmpfs('256k');
    if (!mnt) return ctx.skip();
    const d = track(await startDaemon(['-max-lines', '100000', '--max-bytes', String(64 * 1024 * 1024)]));
    const out = path.join(mnt, 'log');
    const N = 6000;
    const lines = Array.from({ length: N }, (_, i) => `full disk line ${String(i).padStart(5, '0')} ${'f'.repeat(40)}`);
    const lw = track(startLogwrite(['-socket', d.query, '-log-dir', out, '-max-log-size', '10M']));
    const f = new Feed(d.log, 'fill.out');
    f.write(lines.map((l) => l + '\n').join(''));
    f.close();
    await waitStderr(lw, 'cannot write to', 'the disk full message');
    await sleep(1500);
    expect(lw.proc.exitCode).toBeNull();
    // what is on disk is whole lines, a prefix of the stream
    const before = msgs(out, 'fill.out');
    expect(before.length).toBeGreaterThan(1000);
    expect(before.length).toBeLessThan(N);
    expect(before).toEqual(lines.slice(0, before.length));
    expect(fs.readFileSync(path.join(out, 'fill.out.log'), 'utf8').endsWith('\n')).toBe(true);
    const fds = fdCount(lw.proc.pid!);
    await sleep(1500);
    // still waiting, no fd piling up while it retries
    expect(fdCount(lw.proc.pid!)).toBe(fds);
    expect(spawnSync('mount', ['-o', 'remount,size=8m', mnt]).status).toBe(0);
    await waitFor(() => msgs(out, 'fill.out').length === N, 'the rest after space returned', 60_000);
    await waitStderr(lw, 'again');
    expect(await lw.stop()).toEqual({ code: 0, signal: null });
    expect(msgs(out, 'fill.out')).toEqual(lines);
    expect(lw.stderr().match(/cannot write to/g)).toHaveLength(1);
    expect(lw.stderr().match(/writing to .* again/g)).toHaveLength(1);
    expect(linesOf(out, 'memlogd').filter((l) => l.includes('gap:'))).toEqual([]);
  });

  it('when memlogd had to drop lines meanwhile, writes a gap for them and every line it still held, once', async (ctx) => {
    const mnt = tmpfs('128k');
    if (!mnt) return ctx.skip();
    const d = track(await startDaemon(['-max-lines', '2000']));
    const out = path.join(mnt, 'log');
    // more than the socket buffers between memlogd and logwrite hold (about 2 MiB)
    const N = 100_000;
    const lines = Array.from({ length: N }, (_, i) => `lagged line ${String(i).padStart(6, '0')} ${'g'.repeat(40)}`);
    const lw = track(startLogwrite(['-socket', d.query, '-log-dir', out, '-max-log-size', '10M']));
    await waitStderr(lw, 'connected');
    const f = new Feed(d.log, 'lag.out');
    defer(() => f.close());
    f.write(lines.slice(0, 5000).map((l) => l + '\n').join(''));
    await waitStderr(lw, 'cannot write to', 'the disk full message');
    // while logwrite waits, memlogd (2000 lines) must drop what it could not send
    f.write(lines.slice(5000).map((l) => l + '\n').join(''));
    await sleep(500);
    expect(spawnSync('mount', ['-o', 'remount,size=16m', mnt]).status).toBe(0);
    await waitFor(() => msgs(out, 'lag.out').at(-1) === lines.at(-1), 'the last line', 60_000);
    await sleep(300);
    expect(await lw.stop()).toEqual({ code: 0, signal: null });
    const got = msgs(out, 'lag.out').map((m) => Number(/^lagged line (\d+) /.exec(m)![1]));
    const counts = msgs(out, 'memlogd').filter((m) => m.startsWith('gap:')).map((m) => {
      const g = /^gap: logwrite fell behind and missed (\d+) entries \(seq \d+-\d+\)/.exec(m);
      expect(g, m).not.toBeNull();
      return Number(g![1]);
    });
    expect(counts.length).toBeGreaterThan(0);
    // in order, none twice, and every line either written or counted in a gap
    expect(got.every((x, i) => i === 0 || x > got[i - 1])).toBe(true);
    expect(got.length + counts.reduce((a, b) => a + b, 0)).toBe(N);
    expect(got[0]).toBe(0);
    expect(got.at(-1)).toBe(N - 1);
  });
});
