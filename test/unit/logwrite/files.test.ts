import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogFiles, MAX_OPEN_FILES, type FilesOptions } from '../../../lib/logwrite/files.js';
import { readState, writeState, checkState, type State } from '../../../lib/logwrite/state.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lwf-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const open = (o: Partial<FilesOptions> = {}) => new LogFiles({ dir, maxSize: 100, maxFiles: 3, maxTotal: null, compress: false, log: () => {}, ...o });
const ls = () => fs.readdirSync(dir).sort();
const read = (n: string) => fs.readFileSync(path.join(dir, n), 'utf8');

/** Writes lines the way Logwriter does: rotate first when a line would not fit. */
function write(f: LogFiles, base: string, lines: string[]): void {
  const b = f.base(base);
  for (const l of lines) {
    if (b.fd === null) f.openCurrent(b);
    if (f.wouldOverflow(b, Buffer.byteLength(l))) {
      f.flush();
      f.commit();
      f.rotate(b);
    }
    f.buffer(b, l, Buffer.byteLength(l));
  }
  f.flush();
  f.commit();
}

const line = (i: number, len = 30) => `${String(i).padStart(3, '0')} ${'x'.repeat(len - 5)}\n`;

describe('rotation', () => {
  it('rotates before a file would exceed its size; .0 is the newest', async () => {
    const f = open();
    write(f, 'svc', Array.from({ length: 10 }, (_, i) => line(i)));
    // 30-byte lines, 100-byte files: 3 lines each; 10 lines -> .log (1), .0 .1 .2 (3 each)
    expect(ls()).toEqual(['svc.log', 'svc.log.0', 'svc.log.1', 'svc.log.2']);
    expect(read('svc.log')).toBe(line(9));
    expect(read('svc.log.0')).toBe(line(6) + line(7) + line(8));
    expect(read('svc.log.2')).toBe(line(0) + line(1) + line(2));
    write(f, 'svc', [line(10), line(11), line(12)]);
    expect(read('svc.log.2')).toBe(line(3) + line(4) + line(5));
    expect(read('svc.log')).toBe(line(12));
    for (const n of ls()) expect(fs.statSync(path.join(dir, n)).size).toBeLessThanOrEqual(100);
    expect(f.total).toBe(ls().reduce((s, n) => s + fs.statSync(path.join(dir, n)).size, 0));
    await f.close();
  });

  it('gives a line longer than the limit a file of its own, whole', async () => {
    const f = open();
    write(f, 'l', [line(0), line(1, 250), line(2)]);
    expect(read('l.log.1')).toBe(line(0));
    expect(read('l.log.0')).toBe(line(1, 250));
    expect(read('l.log')).toBe(line(2));
    await f.close();
  });

  it('with -max-log-files 0 starts the file over', async () => {
    const f = open({ maxFiles: 0 });
    write(f, 's', Array.from({ length: 7 }, (_, i) => line(i)));
    expect(ls()).toEqual(['s.log']);
    expect(read('s.log')).toBe(line(6));
    await f.close();
  });

  it('rolls a batch back to where it began', async () => {
    const f = open({ maxSize: 1000 });
    write(f, 'a', [line(0)]);
    const b = f.base('a');
    f.buffer(b, line(1), 30);
    f.flush();
    f.rollback();
    expect(read('a.log')).toBe(line(0));
    expect(f.total).toBe(30);
    await f.close();
  });
});

describe('open files', () => {
  it('keeps at most MAX_OPEN_FILES current files open, reopening on demand', async () => {
    const fds0 = fs.readdirSync('/proc/self/fd').length;
    const f = open({ maxSize: 1 << 20 });
    const n = MAX_OPEN_FILES + 100;
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < n; i++) write(f, `s${i}`, [line(round)]);
      expect(fs.readdirSync('/proc/self/fd').length - fds0).toBeLessThanOrEqual(MAX_OPEN_FILES + 1);
    }
    for (let i = 0; i < n; i += 97) expect(read(`s${i}.log`)).toBe(line(0) + line(1));
    await f.close();
    expect(fs.readdirSync('/proc/self/fd').length).toBe(fds0);
  });
});

describe('start-up repair', () => {
  it('closes holes left by an interrupted rotation, in order, and removes temporary files', async () => {
    for (const [n, c] of [['s.log', 'cur'], ['s.log.0', 'r0'], ['s.log.2', 'r1'], ['s.log.5.gz.tmp', 'junk'], ['logwrite.state.tmp', '{']]) {
      fs.writeFileSync(path.join(dir, n), c);
    }
    const f = open();
    expect(ls()).toEqual(['s.log', 's.log.0', 's.log.1']);
    expect(read('s.log.1')).toBe('r1');
    await f.close();
  });

  it('keeps the .gz when a compression was interrupted after its rename', async () => {
    fs.writeFileSync(path.join(dir, 's.log.0'), 'plain');
    fs.writeFileSync(path.join(dir, 's.log.0.gz'), zlib.gzipSync('plain'));
    const f = open();
    expect(ls()).toEqual(['s.log.0.gz']);
    await f.close();
  });

  it('cuts a current file back to the size in the state, and only a file with that inode', async () => {
    fs.writeFileSync(path.join(dir, 'a.log'), 'one\ntwo\nthree\n');
    fs.writeFileSync(path.join(dir, 'b.log'), 'other\n');
    const ino = fs.statSync(path.join(dir, 'a.log')).ino;
    const f = open();
    const state: State = { version: 1, instance: 'ab', seq: 3, pending: [], files: { a: { ino, size: 8 }, b: { ino: ino + 12345, size: 1 } } };
    expect(f.reconcile(state)).toEqual({ warnings: [], cutFiles: 1, cutBytes: 6 });
    expect(read('a.log')).toBe('one\ntwo\n');
    expect(read('b.log')).toBe('other\n');
    expect(f.base('a').regIno).toBe(ino);
    expect(f.base('b').regIno).toBe(-1);
    expect(f.reconcile({ ...state, files: { a: { ino, size: 100 } } }).warnings[0]).toMatch(/shorter than recorded/);
    await f.close();
  });
});

describe('total cap', () => {
  it('deletes the oldest rotated files of any source first', async () => {
    const f = open({ maxTotal: 1000 });
    write(f, 'old', Array.from({ length: 12 }, (_, i) => line(i)));
    await new Promise((r) => setTimeout(r, 20));
    write(f, 'new', Array.from({ length: 12 }, (_, i) => line(i)));
    expect(f.total).toBe(720);
    expect(f.trimRotated(400)).toBe(true);
    // 1120 -> at most 1000: the two oldest rotated files of "old" go
    expect(ls()).toEqual(['new.log', 'new.log.0', 'new.log.1', 'new.log.2', 'old.log', 'old.log.0']);
    expect(f.projected(400)).toBeLessThanOrEqual(1000);
    await f.close();
  });
});

describe('compression', () => {
  it('gzips rotated files in the background; they gunzip to what was written', async () => {
    const f = open({ compress: true });
    const lines = Array.from({ length: 10 }, (_, i) => line(i));
    write(f, 'c', lines);
    await f.compressionIdle();
    expect(ls()).toEqual(['c.log', 'c.log.0.gz', 'c.log.1.gz', 'c.log.2.gz']);
    const back = ['c.log.2.gz', 'c.log.1.gz', 'c.log.0.gz'].map((n) => zlib.gunzipSync(fs.readFileSync(path.join(dir, n))).toString()).join('') + read('c.log');
    expect(back).toBe(lines.join(''));
    // more rotations shift compressed files like plain ones
    write(f, 'c', [line(10), line(11), line(12)]);
    await f.compressionIdle();
    expect(ls()).toEqual(['c.log', 'c.log.0.gz', 'c.log.1.gz', 'c.log.2.gz']);
    expect(zlib.gunzipSync(fs.readFileSync(path.join(dir, 'c.log.2.gz'))).toString()).toBe(lines.slice(3, 6).join(''));
    expect(f.total).toBe(ls().reduce((s, n) => s + fs.statSync(path.join(dir, n)).size, 0));
    await f.close();
  });
});

describe('state file', () => {
  it('round-trips and is replaced atomically', () => {
    const s: State = { version: 1, instance: 'ab12', seq: 7, pending: [], files: { x: { ino: 5, size: 10 } } };
    writeState(dir, null, s, true);
    expect(readState(dir)).toEqual(s);
    expect(ls()).toEqual(['logwrite.state']);
  });
  it('refuses a damaged one', () => {
    fs.writeFileSync(path.join(dir, 'logwrite.state'), '{"version":1,');
    expect(() => readState(dir)).toThrow(/invalid state file/);
    expect(() => checkState({ version: 1, instance: 'x/', seq: 1, pending: [], files: {} })).toThrow(/instance/);
    expect(() => checkState({ version: 2 })).toThrow(/version/);
  });
});
