// logwrite's files: one current file per source (`<base>.log`) and its rotated copies
// (`<base>.log.0` newest ... `<base>.log.<max-1>`, `.gz` when compressed), the total cap and
// background compression. Writes are synchronous appends batched per file; a batch either
// reaches its files whole or is cut back (ftruncate) to where it began, so the files never hold a
// line the position in the state file does not account for.
//
// Crash safety of rotation: the old current file is renamed into place (newest last), the
// oldest one dropped first; a crash in between leaves a hole in the numbering that the next
// start closes (renaming down), so every surviving file keeps its place in the order and no
// file is lost. A compressed copy replaces its source by rename only after it was fsynced; a
// start that finds both removes the uncompressed one.

import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { currentName, isTempName, parseFileName, rotatedName } from './logwrite-names.js';
import type { FileState, State } from './logwrite-state.js';

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

export interface Rotated {
  ino: number;
  gz: boolean;
  size: number;
  mtimeMs: number;
}

/** Everything logwrite knows about one base name (one source). */
export class Base {
  fd: number | null = null;
  /** Inode of the current file on disk (-1: none). */
  ino = -1;
  /** Bytes in the current file (written; not counting the batch still buffered). */
  size = 0;
  mtimeMs = 0;
  /** Inode the state file on disk records for this base (-1: none): writing needs it registered. */
  regIno = -1;
  /** Recorded in the state file (logwrite writes to it). */
  owned = false;
  parts: string[] = [];
  partBytes = 0;
  /** Size when the batch began (-1: not touched in this batch). */
  batchSize = -1;
  /** Written since the last fsync. */
  dirty = false;
  /** Rotated copies, index 0 newest. */
  chain: Rotated[] = [];
  constructor(readonly name: string) {}
}

/** A file at an index >= max-log-files (left by a run with a larger limit): only the cap deletes it. */
interface Stray {
  name: string;
  size: number;
  mtimeMs: number;
}

/** A write the file system refused (ENOSPC, EDQUOT, EROFS, EIO...): logwrite waits and retries. */
export class DiskError extends Error {
  constructor(readonly code: string, readonly file: string, cause: unknown) {
    super(`${file}: ${(cause as Error).message}`);
  }
}

const asDisk = (file: string, err: unknown): DiskError =>
  err instanceof DiskError ? err : new DiskError((err as NodeJS.ErrnoException).code ?? 'EIO', file, err);

const { O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW, O_NONBLOCK, O_RDONLY } = fs.constants;
/** Current files kept open at most; the least recently written are closed (and reopened on demand). */
export const MAX_OPEN_FILES = 512;

export class LogFiles {
  readonly bases = new Map<string, Base>();
  private strays: Stray[] = [];
  /** Bytes of every file of ours in the directory (current files as written, rotated, strays). */
  total = 0;
  /** Bytes buffered in the current batch. */
  buffered = 0;
  private touched: Base[] = [];
  /** Bases with an open fd, least recently written first. */
  private readonly openFds = new Map<Base, true>();
  private dirDirty = false;
  readonly dirFd: number;
  private readonly compressQueue: Array<{ base: Base; ino: number }> = [];
  private compressing = false;
  private compressAbort = new AbortController();
  private closed = false;
  private compressFailed = false;
  /** Resolves when no compression runs (for tests and shutdown). */
  private idleWaiters: Array<() => void> = [];

  constructor(readonly opts: FilesOptions) {
    fs.mkdirSync(opts.dir, { recursive: true });
    this.dirFd = fs.openSync(opts.dir, O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      this.scan();
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
  // Start: what is in the directory, repaired.

  /** Reads the directory: removes temporary files, fixes what a crash mid-rotation/compression left. */
  private scan(): void {
    const rotated = new Map<string, Map<number, { plain?: fs.Stats; gz?: fs.Stats }>>();
    for (const name of fs.readdirSync(this.opts.dir)) {
      if (isTempName(name)) {
        try {
          fs.rmSync(this.p(name), { force: true });
        } catch { /* a read-only directory: harmless, they are not ours to count */ }
        continue;
      }
      const parsed = parseFileName(name);
      if (!parsed) continue;
      let st: fs.Stats;
      try {
        st = fs.lstatSync(this.p(name));
      } catch {
        continue;
      }
      if (!st.isFile()) continue; // a symlink or anything else in our name space is left alone
      if (parsed.index < 0) {
        const b = this.base(parsed.base);
        b.ino = st.ino;
        b.size = st.size;
        b.mtimeMs = st.mtimeMs;
        this.total += st.size;
        continue;
      }
      let m = rotated.get(parsed.base);
      if (!m) rotated.set(parsed.base, (m = new Map()));
      const slot = m.get(parsed.index) ?? {};
      if (parsed.gz) slot.gz = st;
      else slot.plain = st;
      m.set(parsed.index, slot);
    }
    for (const [name, m] of rotated) {
      const b = this.base(name);
      const kept: Array<{ index: number; gz: boolean; st: fs.Stats }> = [];
      for (const index of [...m.keys()].sort((x, y) => x - y)) {
        const slot = m.get(index)!;
        if (slot.gz && slot.plain) {
          // compression finished (the .gz was fsynced before its rename) but the original stayed
          fs.rmSync(this.p(rotatedName(name, index)), { force: true });
          slot.plain = undefined;
        }
        const gz = !!slot.gz;
        const st = (slot.gz ?? slot.plain)!;
        if (index >= this.opts.maxFiles) {
          this.strays.push({ name: rotatedName(name, index, gz), size: st.size, mtimeMs: st.mtimeMs });
          this.total += st.size;
        } else kept.push({ index, gz, st });
      }
      // Close holes (a rotation interrupted between renames): every file moves down, in order.
      kept.forEach((k, i) => {
        if (k.index !== i) {
          fs.renameSync(this.p(rotatedName(name, k.index, k.gz)), this.p(rotatedName(name, i, k.gz)));
          this.dirDirty = true;
        }
        b.chain.push({ ino: k.st.ino, gz: k.gz, size: k.st.size, mtimeMs: k.st.mtimeMs });
        this.total += k.st.size;
      });
    }
    if (this.opts.compress) {
      for (const b of this.bases.values()) for (const r of b.chain) if (!r.gz) this.compressQueue.push({ base: b, ino: r.ino });
    }
  }

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

  /** Queues text (n bytes) for b's current file. */
  buffer(b: Base, text: string, n: number): void {
    if (b.batchSize < 0) {
      b.batchSize = b.size;
      this.touched.push(b);
      if (this.openFds.size > 64) {
        // most recently written last
        this.openFds.delete(b);
        this.openFds.set(b, true);
      }
    }
    b.parts.push(text);
    b.partBytes += n;
    this.buffered += n;
  }

  /** Writes everything buffered. Throws DiskError; then rollback() restores the batch's start. */
  flush(): number {
    let written = 0;
    for (const b of this.touched) {
      if (b.partBytes === 0) continue;
      const data = Buffer.from(b.parts.length === 1 ? b.parts[0] : b.parts.join(''), 'utf8');
      let o = 0;
      try {
        while (o < data.length) o += fs.writeSync(b.fd!, data, o, data.length - o);
      } catch (err) {
        throw asDisk(currentName(b.name), err);
      }
      b.size += data.length;
      this.total += data.length;
      this.buffered -= b.partBytes;
      written += data.length;
      b.parts = [];
      b.partBytes = 0;
      b.dirty = true;
      b.mtimeMs = Date.now();
    }
    return written;
  }

  /** The batch is accounted for (its lines are in the position): it can no longer be rolled back. */
  commit(): void {
    for (const b of this.touched) b.batchSize = -1;
    this.touched = [];
  }

  /** Cuts every file written in this batch back to where the batch began; drops the buffered rest. */
  rollback(): void {
    for (const b of this.touched) {
      b.parts = [];
      b.partBytes = 0;
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
        if (this.opts.compress) this.compressQueue.push({ base: b, ino: b.ino });
      }
    } catch (err) {
      this.rescan(b);
      throw asDisk(cur, err);
    }
    this.dirDirty = true;
    b.ino = -1;
    b.size = 0;
    b.mtimeMs = 0;
    this.openCurrent(b);
    this.kickCompression();
  }

  /** Rebuilds b's rotated chain from the directory after a failed rotation (closing any hole). */
  private rescan(b: Base): void {
    const found: Array<{ index: number; gz: boolean; st: fs.Stats }> = [];
    for (let i = 0; i < this.opts.maxFiles; i++) {
      for (const gz of [false, true]) {
        try {
          const st = fs.lstatSync(this.p(rotatedName(b.name, i, gz)));
          if (st.isFile()) found.push({ index: i, gz, st });
        } catch { /* not there */ }
      }
    }
    for (const r of b.chain) this.total -= r.size;
    b.chain = [];
    found.forEach((k, i) => {
      try {
        if (k.index !== i) fs.renameSync(this.p(rotatedName(b.name, k.index, k.gz)), this.p(rotatedName(b.name, i, k.gz)));
      } catch { /* left where it is; the next start repairs it */ }
      b.chain.push({ ino: k.st.ino, gz: k.gz, size: k.st.size, mtimeMs: k.st.mtimeMs });
      this.total += k.st.size;
    });
    try {
      const st = fs.lstatSync(this.p(currentName(b.name)));
      if (b.fd === null && st.isFile()) {
        this.total += st.size - (b.ino === st.ino ? b.size : 0);
        b.ino = st.ino;
        b.size = st.size;
      }
    } catch {
      if (b.fd === null) {
        if (b.ino >= 0) this.total -= b.size;
        b.ino = -1;
        b.size = 0;
      }
    }
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

  /** Deletes the oldest rotated files (any source) until n more bytes fit; false if still over. */
  trimRotated(n: number): boolean {
    while (this.overCap(n)) {
      let victim: { b: Base | null; stray: number; mtime: number } | null = null;
      this.strays.forEach((s, i) => {
        if (!victim || s.mtimeMs < victim.mtime) victim = { b: null, stray: i, mtime: s.mtimeMs };
      });
      for (const b of this.bases.values()) {
        const last = b.chain[b.chain.length - 1];
        if (last && (!victim || last.mtimeMs < victim.mtime)) victim = { b, stray: -1, mtime: last.mtimeMs };
      }
      if (!victim) return false;
      const v = victim as { b: Base | null; stray: number; mtime: number };
      if (v.b) {
        const r = v.b.chain.pop()!;
        fs.rmSync(this.p(rotatedName(v.b.name, v.b.chain.length, r.gz)), { force: true });
        this.total -= r.size;
      } else {
        const s = this.strays.splice(v.stray, 1)[0];
        fs.rmSync(this.p(s.name), { force: true });
        this.total -= s.size;
      }
      this.dirDirty = true;
    }
    return true;
  }

  /** The current file (not b's) written longest ago and not empty, to delete when the cap needs it. */
  oldestOtherCurrent(b: Base): Base | null {
    let v: Base | null = null;
    for (const x of this.bases.values()) {
      if (x === b || x.ino < 0 || x.size === 0 || x.partBytes > 0) continue;
      if (!v || x.mtimeMs < v.mtimeMs) v = x;
    }
    return v;
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
  // Compression, in the background: zlib and file reads/writes run on libuv's pool.

  kickCompression(): void {
    if (this.compressing || this.closed || this.compressQueue.length === 0) return;
    this.compressing = true;
    const job = this.compressQueue.shift()!;
    this.compressOne(job.base, job.ino).then(
      () => {
        this.compressing = false;
        this.compressFailed = false;
        this.kickCompression();
        if (!this.compressing) this.idleWaiters.splice(0).forEach((w) => w());
      },
      (err: NodeJS.ErrnoException) => {
        this.compressing = false;
        if (this.closed) {
          this.idleWaiters.splice(0).forEach((w) => w());
          return;
        }
        if (!this.compressFailed) this.opts.log(`cannot compress a rotated file of ${job.base.name}: ${err.message}; will retry`);
        this.compressFailed = true;
        this.compressQueue.push(job);
        setTimeout(() => this.kickCompression(), 5000).unref();
        this.idleWaiters.splice(0).forEach((w) => w());
      },
    );
  }

  /** Resolves once no compression is running or queued (tests, benchmarks). */
  compressionIdle(): Promise<void> {
    if (!this.compressing && this.compressQueue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(() => {
      if (!this.compressing && this.compressQueue.length === 0) resolve();
      else this.compressionIdle().then(resolve);
    }));
  }

  private async compressOne(b: Base, ino: number): Promise<void> {
    const at = b.chain.findIndex((r) => r.ino === ino && !r.gz);
    if (at < 0) return; // dropped or deleted meanwhile
    const srcName = rotatedName(b.name, at);
    const tmp = this.p(`${b.name}.log.${ino}.gz.tmp`);
    const signal = this.compressAbort.signal;
    // Opened synchronously, where the chain says it is: the fd follows the file through renames.
    let inFd: number | null;
    try {
      inFd = fs.openSync(this.p(srcName), O_RDONLY | O_NOFOLLOW);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // removed by someone else
      throw err;
    }
    try {
      const st = fs.fstatSync(inFd);
      if (st.ino !== ino) return; // not where the chain says: left for the next start
      // Streams that close their own files (pipeline waits for 'close'); flush: fsync before close.
      const input = fs.createReadStream('', { fd: inFd });
      inFd = null;
      const output = fs.createWriteStream(tmp, { flags: 'w', mode: 0o644, flush: true } as Parameters<typeof fs.createWriteStream>[1]);
      await pipeline(input, zlib.createGzip(), output, { signal });
      await fs.promises.utimes(tmp, st.atime, st.mtime);
      const gz = await fs.promises.stat(tmp);
      // Synchronous from here: no rotation can move files in between.
      const k = b.chain.findIndex((r) => r.ino === ino && !r.gz);
      if (k < 0 || this.closed) {
        fs.rmSync(tmp, { force: true });
        return;
      }
      fs.renameSync(tmp, this.p(rotatedName(b.name, k, true)));
      fs.rmSync(this.p(rotatedName(b.name, k)), { force: true });
      this.dirDirty = true;
      const old = b.chain[k];
      b.chain[k] = { ino: gz.ino, gz: true, size: gz.size, mtimeMs: old.mtimeMs };
      this.total += gz.size - old.size;
    } catch (err) {
      await fs.promises.rm(tmp, { force: true }).catch(() => {});
      throw err;
    } finally {
      if (inFd !== null) fs.closeSync(inFd);
    }
  }

  /** Stops compression (an unfinished .gz is removed), closes every file. */
  async close(): Promise<void> {
    this.closed = true;
    this.compressAbort.abort();
    if (this.compressing) await new Promise<void>((r) => this.idleWaiters.push(r));
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
