// logbundle and the log directory: files listed newest first, each read once through one fd with
// what changed since the listing noted (a rotation, a shrink, a file gone), and --max-size cutting
// what does not fit to its newest bytes. Real files; the binary for the size budget and redaction
// options.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { logbundle } from '../../lib/bundle/collect.js';
import { listLogFiles, openListed, openLogFile, readOnce } from '../../lib/bundle/logdir.js';
import type { Manifest } from '../../lib/bundle/manifest.js';
import { MASK } from '../../lib/bundle/redact.js';
import { Skip } from '../../lib/bundle/task.js';
import { exited, fdCount, runBin, waitFor } from '../support/helpers.js';
import { useCleanups } from '../support/logwrite.js';

const { tmpDir } = useCleanups();
const never = new AbortController().signal;

/** Writes name in dir with its modification time `age` seconds ago. */
function file(dir: string, name: string, data: string | Buffer, age: number): string {
  const p = path.join(dir, name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, data);
  const t = Date.now() / 1000 - age;
  fs.utimesSync(p, t, t);
  return p;
}

const lines = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `2026-11-21T05:40:00Z ${tag} line ${String(i).padStart(4, '0')}\n`).join('');

describe('listing the log directory', () => {
  it('lists regular files newest first (a rotated file after the one it came from), the rest as not read', async () => {
    const dir = tmpDir();
    file(dir, 'a.log.1.gz', zlib.gzipSync('old\n'), 300);
    file(dir, 'a.log.0', 'newer\n', 100);
    file(dir, 'a.log', 'newest\n', 100);
    file(dir, 'sub/b.log', 'b\n', 10);
    file(dir, 'skip-me.partial', 'x', 0);
    fs.symlinkSync('/etc/passwd', path.join(dir, 'link.log'));
    spawnSync('mkfifo', [path.join(dir, 'fifo.log')]);
    const l = await listLogFiles(dir, new Set([path.join(dir, 'skip-me.partial')]));
    expect(l.files.map((f) => f.rel)).toEqual(['sub/b.log', 'a.log', 'a.log.0', 'a.log.1.gz']);
    expect(l.files.map((f) => f.gz)).toEqual([false, false, false, true]);
    expect(l.others.sort((x, y) => x.rel.localeCompare(y.rel))).toEqual([
      { rel: 'fifo.log', why: 'not a regular file' }, { rel: 'link.log', why: 'symbolic link: not followed' },
    ]);
  });
});

describe('listing while logwrite rotates', () => {
  /** Shifts every a.log.N.gz to N+1 (highest first, as logwrite rotates) and makes a new a.log.0.gz. */
  const rotate = (dir: string, n: number, tag: string) => {
    for (let i = n - 1; i >= 0; i--) fs.renameSync(path.join(dir, `a.log.${i}.gz`), path.join(dir, `a.log.${i + 1}.gz`));
    file(dir, 'a.log.0.gz', zlib.gzipSync(`${tag}\n`), 0);
  };

  it('opens every listed file by its inode, also after a rotation renamed them all', async () => {
    const dir = tmpDir();
    for (let i = 0; i < 5; i++) file(dir, `a.log.${i}.gz`, zlib.gzipSync(`content ${i}\n`), i + 1);
    const { files } = await listLogFiles(dir, new Set());
    rotate(dir, 5, 'new');
    const held = await openListed(dir, files, new Set(), never);
    expect(held.size).toBe(5);
    for (const f of files) {
      const r = await readOnce(f, null, never, held.get(f));
      // what the file held when listed, under the name it had then
      expect(zlib.gunzipSync(r.data).toString()).toBe(`content ${f.rel.match(/\d+/)![0]}\n`);
      expect(r.notes).toEqual(['rotated away since it was opened: archived what it held then, under the name it had']);
    }
  });

  it('misses no file while the directory rotates', async () => {
    const dir = tmpDir();
    for (let i = 0; i < 30; i++) file(dir, `a.log.${i}.gz`, zlib.gzipSync(`${i}\n`), 0);
    // a child that keeps the 30 files rotating in a ring until killed: every 10 ms, a burst of
    // renames as logwrite makes when a file is full (it rotates once per filled file)
    const child = spawn(process.execPath, ['-e', `
      const fs = require('node:fs'); const p = (i) => ${JSON.stringify(dir)} + '/a.log.' + i + '.gz';
      const pause = new Int32Array(new SharedArrayBuffer(4));
      for (;;) {
        fs.renameSync(p(29), p('t')); for (let i = 28; i >= 0; i--) fs.renameSync(p(i), p(i + 1)); fs.renameSync(p('t'), p(0));
        Atomics.wait(pause, 0, 0, 10);
      }`], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 200)); // the child starts rotating
      for (let n = 0; n < 50; n++) {
        const { files } = await listLogFiles(dir, new Set([path.join(dir, 'a.log.t.gz')]));
        // one of the 30 may be in flight under the excluded temporary name
        expect(new Set(files.map((f) => f.ino)).size).toBeGreaterThanOrEqual(29);
      }
    } finally {
      child.kill('SIGKILL');
      await exited(child);
    }
  });
});

describe('reading a file once', () => {
  it('reads a file opened at the listing as it was then, wherever a rotation moved it', async () => {
    const dir = tmpDir();
    file(dir, 'a.log', 'before rotation\n', 0);
    const [f] = (await listLogFiles(dir, new Set())).files;
    const fh = await openLogFile(f);
    fs.renameSync(path.join(dir, 'a.log'), path.join(dir, 'a.log.0'));
    fs.writeFileSync(path.join(dir, 'a.log'), 'after\n');
    const r = await readOnce(f, null, never, fh);
    expect(r.data.toString()).toBe('before rotation\n');
    expect(r.notes).toEqual(['rotated away since it was opened: archived what it held then, under the name it had']);
  });

  it('notes a file replaced between listing and opening, and archives what then has the name', async () => {
    const dir = tmpDir();
    file(dir, 'a.log', 'before rotation\n', 0);
    const [f] = (await listLogFiles(dir, new Set())).files;
    fs.renameSync(path.join(dir, 'a.log'), path.join(dir, 'a.log.0'));
    fs.writeFileSync(path.join(dir, 'a.log'), 'after\n');
    const r = await readOnce(f, null, never);
    expect(r.data.toString()).toBe('after\n');
    expect(r.notes).toEqual(['replaced between listing and opening (rotated): archived the file that had this name when opened']);
  });

  it('notes a file that shrank, and skips one that is gone', async () => {
    const dir = tmpDir();
    file(dir, 'a.log', lines('a', 100), 0);
    file(dir, 'b.log', 'b\n', 0);
    const fs0 = (await listLogFiles(dir, new Set())).files;
    const a = fs0.find((f) => f.rel === 'a.log')!;
    const b = fs0.find((f) => f.rel === 'b.log')!;
    fs.truncateSync(a.path, 50);
    fs.unlinkSync(b.path);
    const r = await readOnce(a, null, never);
    expect(r.data).toEqual(Buffer.from(lines('a', 100)).subarray(0, 50));
    expect(r.notes[0]).toMatch(/^shrank from 3\.2 KiB to 50 B since it was listed$/);
    await expect(readOnce(b, null, never)).rejects.toThrow(Skip);
  });

  it('reads only the newest bytes of a plain file when asked, all of a gzip file', async () => {
    const dir = tmpDir();
    file(dir, 'a.log', lines('a', 100), 0);
    file(dir, 'a.log.0.gz', zlib.gzipSync(lines('z', 100)), 10);
    const [a, z] = (await listLogFiles(dir, new Set())).files;
    const r = await readOnce(a, 100, never);
    expect(r).toMatchObject({ tail: true, size: lines('a', 100).length });
    expect(r.data.toString()).toBe(lines('a', 100).slice(-100));
    expect(zlib.gunzipSync((await readOnce(z, 100, never)).data).toString()).toBe(lines('z', 100));
  });
});

/** Runs logbundle on a log directory (no memlogd), extracts it; the manifest and a reader of items. */
async function bundleOf(logDir: string, args: string[]): Promise<{ manifest: Manifest; read: (p: string) => Buffer }> {
  const out = tmpDir();
  const archive = path.join(out, 'b.tar.gz');
  const r = await runBin('logbundle', ['-o', archive, '-socket', path.join(out, 'none.sock'), '--log-dir', logDir, ...args], { timeoutMs: 120_000 });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(spawnSync('tar', ['-xzf', archive, '-C', out]).status).toBe(0);
  const top = path.join(out, 'b');
  const manifest = JSON.parse(fs.readFileSync(path.join(top, 'manifest.json'), 'utf8')) as Manifest;
  const read = (p: string) => fs.readFileSync(path.join(top, p));
  for (const i of manifest.items.filter((x) => x.status === 'ok')) {
    expect(createHash('sha256').update(read(i.path)).digest('hex')).toBe(i.sha256);
  }
  return { manifest, read };
}

describe('logbundle --max-size', () => {
  it('takes the newest files whole, cuts the next to its newest lines, and skips the rest', async () => {
    const dir = tmpDir();
    const newest = lines('new', 100); // 3.4 KiB
    const middle = lines('mid', 200); // 6.8 KiB
    file(dir, 'svc.log', newest, 0);
    file(dir, 'svc.log.0', middle, 60);
    file(dir, 'svc.log.1.gz', zlib.gzipSync(lines('old', 200)), 120);
    const { manifest, read } = await bundleOf(dir, ['--max-size', '8k']);
    const by = new Map(manifest.items.map((i) => [i.path, i]));
    expect(by.get('logs/svc.log')).toMatchObject({ status: 'ok', truncated: false, size: newest.length });
    const cut = by.get('logs/svc.log.0')!;
    expect(cut).toMatchObject({ status: 'ok', truncated: true, sourceSize: middle.length });
    expect(cut.size! + newest.length).toBeLessThanOrEqual(8192);
    expect(cut.notes).toEqual([expect.stringMatching(/^cut to its newest .* to stay within --max-size$/)]);
    const kept = read('logs/svc.log.0').toString();
    expect(middle.endsWith(kept)).toBe(true);
    expect(kept).toMatch(/^2026-11-21T05:40:00Z mid line \d{4}\n/);
    expect(by.get('logs/svc.log.1.gz')).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/^over --max-size/) });
    expect(manifest.settings.maxSize).toBe(8192);
  });
});

describe('logbundle redaction options', () => {
  it('masks by default and skips binary files; --no-redact keeps both; --redact adds a pattern', async () => {
    const dir = tmpDir();
    file(dir, 'app.log', 'login password=hunter2 account acct-4242\n', 0);
    file(dir, 'wtmp', Buffer.from([1, 0, 0, 0, 0x70, 0x77]), 0);
    const def = await bundleOf(dir, []);
    expect(def.read('logs/app.log').toString()).toBe(`login password=${MASK} account acct-4242\n`);
    expect(def.manifest.items.find((i) => i.path === 'logs/wtmp')).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/^binary, not text/) });
    expect(def.manifest.settings).toMatchObject({ redaction: 'default', patterns: 0 });

    const both = await bundleOf(dir, ['--redact', 'acct-\\d+']);
    expect(both.read('logs/app.log').toString()).toBe(`login password=${MASK} account ${MASK}\n`);
    expect(both.manifest.items.find((i) => i.path === 'logs/app.log')!.redactions).toEqual({ 'secret-value': 1, 'pattern-1': 1 });

    const off = await bundleOf(dir, ['--no-redact']);
    expect(off.read('logs/app.log').toString()).toBe('login password=hunter2 account acct-4242\n');
    expect(off.read('logs/wtmp')).toEqual(Buffer.from([1, 0, 0, 0, 0x70, 0x77]));
    expect(off.manifest.settings.redaction).toBe('off');
  });

  it('refuses a bad pattern with a usage error', async () => {
    const r = await runBin('logbundle', ['--redact', 'a(', '-o', path.join(tmpDir(), 'x.tar.gz')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^logbundle: --redact: Invalid regular expression/);
  });
});

describe('logbundle() as a library', () => {
  it('closes every fd it opened, also after an item timed out and with the archive written', async () => {
    const dir = tmpDir();
    file(dir, 'a.log', lines('a', 50), 0);
    file(dir, 'a.log.0.gz', zlib.gzipSync(lines('b', 50)), 10);
    const socket = path.join(dir, 'q.sock');
    const held: net.Socket[] = [];
    const server = net.createServer((s) => held.push(s.on('error', () => {}).resume()));
    await new Promise<void>((r) => server.listen(socket, r));
    try {
      const before = fdCount('self');
      const r = await logbundle({
        output: path.join(dir, 'lib.tar.gz'), socket, logDir: dir, maxSize: 1 << 20, kmsgDevice: '/dev/kmsg', timeoutMs: 500,
      });
      expect(r.manifest.items.find((i) => i.path === 'memlogd/dump.ndjson')).toMatchObject({ status: 'failed' });
      expect(r.manifest.items.find((i) => i.path === 'logs/a.log')).toMatchObject({ status: 'ok' });
      await waitFor(() => fdCount('self') === before, 'every fd to be closed', 10_000);
    } finally {
      for (const s of held) s.destroy();
      server.close();
    }
  });
});
