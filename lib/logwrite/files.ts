// logwrite's files: one current file per source (`<base>.log`) and its rotated copies
// (`<base>.log.0` newest ... `<base>.log.<max-1>`, `.gz` when compressed). The mechanism: open,
// append, cut back, rotate, delete, count bytes. Policies live beside it: room.ts (when to
// rotate), cap.ts (what the total cap deletes), compress.ts, scan.ts (repair at start). Writes
// are synchronous appends batched per file; a batch either reaches its files whole or is cut back
// (ftruncate) to where it began, so the files never hold a line the position in the state file
// does not account for.
//
// Crash safety of rotation: the old current file is renamed into place (newest last), the
// oldest one dropped first; a crash in between leaves a hole in the numbering that the next
// start closes (renaming down), so every surviving file keeps its place in the order and no
// file is lost. A compressed copy replaces its source by rename only after it was fsynced; a
// start that finds both removes the uncompressed one.

import fs from 'node:fs';
import path from 'node:path';
import { DiskError } from '../protocol/errors.js';
import { Base, type Stray } from './base.js';
import { trimRotated } from './cap.js';
import { Compressor } from './compress.js';
import { asDisk } from './disk.js';
import { currentName, rotatedName } from './names.js';
import { rescanBase, scanDir } from './scan.js';
import type { FileState, State } from './state.js';

export interface FilesOptions {
  dir: string;
  /** Rotate before a current file would grow beyond this (a longer line gets a file of its own). */
  maxSize: number;
  /** Rotated copies kept per source (0: the current file is simply started over). */
  maxFiles: number;
  /** Cap on all files of the directory (bytes); 0 or null: none. */
  maxTotal: number | null;
  compress: boolean;
  /** fsync a written file before closing it (false with --fsync never). Default true. */
  sync?: boolean;
  log: (msg: string) => void;
}

const { O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW, O_NONBLOCK, O_RDONLY } = fs.constants;
/** Current files kept open at most; the least recently written are closed (and reopened on demand). */
export const MAX_OPEN_FILES = 512;
/** A batch buffer starts this size; one of up to PEND_KEEP is kept (in all) for the next batch. */
const PEND_MIN = 4096;
const PEND_KEEP = 256 * 1024;

export class LogFiles {
  readonly bases = new Map<string, Base>();
  /** Rotated files beyond -max-log-files (see Stray). */
  strays: Stray[] = [];
  /** Bytes of every file of ours in the directory (current files as written, rotated, strays). */
  total = 0;
  /** Bytes buffered in the current batch. */
  buffered = 0;
  private touched: Base[] = [];
  /** Bases with an open fd, least recently written first. */
  private readonly openFds = new Map<Base, true>();
  private dirDirty = false;
  readonly dirFd: number;
  private readonly compressor: Compressor;
  /** A batch buffer to reuse (see release). */
  private spare: Buffer | null = null;

  constructor(readonly opts: FilesOptions) {
    fs.mkdirSync(opts.dir, { recursive: true });
    this.dirFd = fs.openSync(opts.dir, O_RDONLY | fs.constants.O_DIRECTORY);
    this.compressor = new Compressor(opts.dir, {
      log: opts.log,
      compressed: (_b, _k, old, now) => {
        this.dirDirty = true;
        this.total += now.size - old.size;
      },
    });
    try {
      const found = scanDir(opts.dir, opts.maxFiles, (name) => this.base(name));
      this.strays = found.strays;
      this.total = found.total;
      this.dirDirty = found.renamed;
      if (opts.compress) for (const j of found.uncompressed) this.compressor.add(j.base, j.ino);
    } catch (err) {
      fs.closeSync(this.dirFd);
      throw err;
    }
  }

  private p(name: string): string {
    return path.join(this.opts.dir, name);
  }

  base(name: string): Base {
    let b = this.bases.get(name);
    if (!b) this.bases.set(name, (b = new Base(name)));
    return b;
  }

  // -------------------------------------------------------------------------------------------
  // Start: the files as the state file left them.

  /**
   * Cuts every current file back to the size the state records for it (what was written after
   * that state is read again from memlogd). Returns warnings about files shorter than recorded.
   */
  reconcile(state: State | null): { warnings: string[]; cutFiles: number; cutBytes: number } {
    const warnings: string[] = [];
    let cutFiles = 0;
    let cutBytes = 0;
    if (!state) return { warnings, cutFiles, cutBytes };
    for (const [name, f] of Object.entries(state.files)) {
      const b = this.bases.get(name);
      if (!b || b.ino !== f.ino) continue; // rotated away or removed: nothing of ours after the state in it
      b.owned = true;
      b.regIno = f.ino;
      if (b.size > f.size) {
        fs.truncateSync(this.p(currentName(name)), f.size);
        cutFiles++;
        cutBytes += b.size - f.size;
        this.total -= b.size - f.size;
        b.size = f.size;
        this.dirDirty = true;
      } else if (b.size < f.size) {
        warnings.push(`${currentName(name)} is ${f.size - b.size} bytes shorter than recorded (lost in a power failure, or truncated by someone else)`);
      }
    }
    return { warnings, cutFiles, cutBytes };
  }

  // -------------------------------------------------------------------------------------------
  // The write path.

  /** Opens (creating if needed) the current file of b for appending. */
  openCurrent(b: Base): void {
    if (b.fd !== null) return;
    const file = this.p(currentName(b.name));
    let fd: number;
    try {
      fd = fs.openSync(file, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0o644);
    } catch (err) {
      throw asDisk(currentName(b.name), err);
    }
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      fs.closeSync(fd);
      throw new DiskError('EINVAL', currentName(b.name), new Error('not a regular file'));
    }
    if (b.ino !== st.ino) {
      this.total += st.size - (b.ino >= 0 ? b.size : 0);
      this.dirDirty = true;
    } else this.total += st.size - b.size;
    b.fd = fd;
    b.ino = st.ino;
    b.size = st.size;
    b.mtimeMs = st.mtimeMs;
    this.openFds.set(b, true);
    if (this.openFds.size > MAX_OPEN_FILES) this.closeIdle();
  }

  /** Closes the least recently written files not part of the current batch (fsynced first if due). */
  private closeIdle(): void {
    for (const x of this.openFds.keys()) {
      if (this.openFds.size <= MAX_OPEN_FILES * 0.75) break;
      if (x.batchSize >= 0 || x.partBytes > 0) continue;
      this.closeFd(x);
    }
  }

  private closeFd(b: Base): void {
    if (b.fd === null) return;
    try {
      if (b.dirty && this.opts.sync !== false) fs.fsyncSync(b.fd);
    } catch { /* reported by the write that fails next */ }
    fs.closeSync(b.fd);
    b.fd = null;
    b.dirty = false;
    this.openFds.delete(b);
  }

  /** Would n more bytes take b's current file beyond the size limit (a non-empty file rotates first)? */
  wouldOverflow(b: Base, n: number): boolean {
    const size = b.size + b.partBytes;
    return size > 0 && size + n > this.opts.maxSize;
  }

  /** Queues text (n bytes in UTF-8) for b's current file. */
  buffer(b: Base, text: string, n: number): void {
    const at = this.reserve(b, n);
    b.pend!.write(text, at, 'utf8');
  }

  /**
   * Makes room for n more bytes of b's batch and returns where in b.pend they go (the caller
   * copies them there): the write path without a string.
   */
  reserve(b: Base, n: number): number {
    if (b.batchSize < 0) {
      b.batchSize = b.size;
      this.touched.push(b);
      if (this.openFds.size > 64) {
        // most recently written last
        this.openFds.delete(b);
        this.openFds.set(b, true);
      }
    }
    const at = b.partBytes;
    if (!b.pend && this.spare) {
      b.pend = this.spare;
      this.spare = null;
    }
    if (!b.pend || b.pend.length < at + n) {
      const bigger = Buffer.allocUnsafe(Math.max(PEND_MIN, (at + n) * 2));
      if (b.pend) b.pend.copy(bigger, 0, 0, at);
      b.pend = bigger;
    }
    b.partBytes += n;
    this.buffered += n;
    return at;
  }

  /** Writes everything buffered. Throws DiskError; then rollback() restores the batch's start. */
  flush(): number {
    let written = 0;
    for (const b of this.touched) {
      if (b.partBytes === 0) continue;
      const n = b.partBytes;
      let o = 0;
      try {
        while (o < n) o += fs.writeSync(b.fd!, b.pend!, o, n - o);
      } catch (err) {
        throw asDisk(currentName(b.name), err);
      }
      b.size += n;
      this.total += n;
      this.buffered -= n;
      written += n;
      this.release(b);
      b.dirty = true;
      b.mtimeMs = Date.now();
    }
    return written;
  }

  /**
   * b's batch is written or dropped. Its buffer becomes the spare the next batch starts with
   * (one buffer kept in all, whatever the number of sources), unless it grew beyond PEND_KEEP.
   */
  private release(b: Base): void {
    b.partBytes = 0;
    if (b.pend && b.pend.length <= PEND_KEEP && (!this.spare || this.spare.length < b.pend.length)) this.spare = b.pend;
    b.pend = null;
  }

  /** The batch is accounted for (its lines are in the position): it can no longer be rolled back. */
  commit(): void {
    for (const b of this.touched) b.batchSize = -1;
    this.touched = [];
  }

  /** Cuts every file written in this batch back to where the batch began; drops the buffered rest. */
  rollback(): void {
    for (const b of this.touched) {
      this.release(b);
      if (b.fd !== null) {
        try {
          if (fs.fstatSync(b.fd).size !== b.batchSize) fs.ftruncateSync(b.fd, b.batchSize);
        } catch (err) {
          this.opts.log(`cannot cut ${currentName(b.name)} back to ${b.batchSize} bytes: ${(err as Error).message}`);
        }
        this.total -= b.size - b.batchSize;
        b.size = b.batchSize;
      }
      b.batchSize = -1;
    }
    this.touched = [];
    this.buffered = 0;
  }

  /** fsyncs every file written since the last call, and the directory if names changed. */
  fsyncAll(): void {
    for (const b of this.bases.values()) {
      if (!b.dirty || b.fd === null) continue;
      try {
        fs.fsyncSync(b.fd);
      } catch (err) {
        throw asDisk(currentName(b.name), err);
      }
      b.dirty = false;
    }
    if (this.dirDirty) {
      fs.fsyncSync(this.dirFd);
      this.dirDirty = false;
    }
  }

  fsyncOne(b: Base): void {
    if (b.fd === null) return;
    try {
      fs.fsyncSync(b.fd);
    } catch (err) {
      throw asDisk(currentName(b.name), err);
    }
    b.dirty = false;
  }

  /**
   * Current file -> .0, .0 -> .1, ..., the oldest dropped; a new empty current file. Only at a
   * clean point (nothing buffered, the state written). The renames go oldest first, so a crash
   * leaves at most a hole that the next start closes.
   */
  rotate(b: Base): void {
    if (b.partBytes > 0) throw new Error('rotate with buffered data');
    const cur = currentName(b.name);
    try {
      this.closeFd(b);
      if (this.opts.maxFiles === 0) {
        fs.rmSync(this.p(cur), { force: true });
        this.total -= b.size;
      } else {
        while (b.chain.length >= this.opts.maxFiles) {
          const r = b.chain.pop()!;
          fs.rmSync(this.p(rotatedName(b.name, b.chain.length, r.gz)), { force: true });
          this.total -= r.size;
        }
        for (let i = b.chain.length - 1; i >= 0; i--) {
          const r = b.chain[i];
          fs.renameSync(this.p(rotatedName(b.name, i, r.gz)), this.p(rotatedName(b.name, i + 1, r.gz)));
        }
        fs.renameSync(this.p(cur), this.p(rotatedName(b.name, 0)));
        b.chain.unshift({ ino: b.ino, gz: false, size: b.size, mtimeMs: b.mtimeMs || Date.now() });
        if (this.opts.compress) this.compressor.add(b, b.ino);
      }
    } catch (err) {
      this.total += rescanBase(this.opts.dir, this.opts.maxFiles, b);
      throw asDisk(cur, err);
    }
    this.dirDirty = true;
    b.ino = -1;
    b.size = 0;
    b.mtimeMs = 0;
    this.openCurrent(b);
    this.kickCompression();
  }

  /** For the state file: every current file logwrite writes to, with its size now. */
  table(): Record<string, FileState> {
    const t: Record<string, FileState> = {};
    for (const b of this.bases.values()) {
      if (b.ino >= 0 && (b.fd !== null || b.owned)) t[b.name] = { ino: b.ino, size: b.size };
    }
    return t;
  }

  /** The state with table() is on disk: those files may be written now. */
  markRegistered(t: Record<string, FileState>): void {
    for (const [name, f] of Object.entries(t)) {
      const b = this.bases.get(name)!;
      b.regIno = f.ino;
      b.owned = true;
    }
  }

  // -------------------------------------------------------------------------------------------
  // The total cap.

  /** Bytes the directory would hold with n more. */
  projected(n: number): number {
    return this.total + this.buffered + n;
  }

  overCap(n: number): boolean {
    return !!this.opts.maxTotal && this.projected(n) > this.opts.maxTotal;
  }

  /** Deletes the oldest rotated file of b. */
  dropOldestRotated(b: Base): void {
    const r = b.chain.pop()!;
    fs.rmSync(this.p(rotatedName(b.name, b.chain.length, r.gz)), { force: true });
    this.total -= r.size;
    this.dirDirty = true;
  }

  /** Deletes stray file i. */
  dropStray(i: number): void {
    const st = this.strays.splice(i, 1)[0];
    fs.rmSync(this.p(st.name), { force: true });
    this.total -= st.size;
    this.dirDirty = true;
  }

  /** Deletes the oldest rotated files until n more bytes fit (cap.ts); false if still over. */
  trimRotated(n: number): boolean {
    return trimRotated(this, n);
  }

  /** Deletes a current file entirely (the cap; only at a clean point). */
  deleteCurrent(b: Base): void {
    this.closeFd(b);
    fs.rmSync(this.p(currentName(b.name)), { force: true });
    this.total -= b.size;
    b.ino = -1;
    b.size = 0;
    b.dirty = false;
    this.dirDirty = true;
  }

  // -------------------------------------------------------------------------------------------
  // Compression, in the background (compress.ts).

  kickCompression(): void {
    this.compressor.kick();
  }

  /** Resolves once no compression is running or queued (tests, benchmarks). */
  compressionIdle(): Promise<void> {
    return this.compressor.idle();
  }

  /** Stops compression (an unfinished .gz is removed), closes every file. */
  async close(): Promise<void> {
    await this.compressor.close();
    for (const b of this.bases.values()) {
      if (b.fd !== null) {
        try {
          fs.closeSync(b.fd);
        } catch { /* already gone */ }
        b.fd = null;
      }
    }
    this.openFds.clear();
    fs.closeSync(this.dirFd);
  }
}
