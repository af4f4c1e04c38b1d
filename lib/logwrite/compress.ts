// Background compression of rotated files: zlib and the file reads and writes run on libuv's
// pool, one file at a time. A compressed copy replaces its original by rename only after it was
// fsynced (scan.ts completes a replacement a crash interrupted); a rotation that moves files
// meanwhile is followed by inode, never by name.

import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import type { Base, Rotated } from './base.js';
import { rotatedName } from './names.js';

const { O_NOFOLLOW, O_RDONLY } = fs.constants;
/** After a failure (disk full), wait this long before trying again. */
const RETRY_MS = 5000;

/** What the compressor tells the files it works on. */
export interface CompressHost {
  /** The chain entry at index k of b was replaced by its compressed copy. */
  compressed(b: Base, k: number, old: Rotated, now: Rotated): void;
  log(msg: string): void;
}

export class Compressor {
  private readonly queue: Array<{ base: Base; ino: number }> = [];
  private running = false;
  private readonly abort = new AbortController();
  private closed = false;
  private failed = false;
  /** Called when nothing runs any more (for compressionIdle and close). */
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly dir: string, private readonly host: CompressHost) {}

  /** Queues the rotated file of b with this inode. */
  add(base: Base, ino: number): void {
    this.queue.push({ base, ino });
  }

  /** Starts the next job if none runs. */
  kick(): void {
    if (this.running || this.closed || this.queue.length === 0) return;
    this.running = true;
    const job = this.queue.shift()!;
    this.one(job.base, job.ino).then(
      () => {
        this.running = false;
        this.failed = false;
        this.kick();
        if (!this.running) this.idleWaiters.splice(0).forEach((w) => w());
      },
      (err: NodeJS.ErrnoException) => {
        this.running = false;
        if (this.closed) {
          this.idleWaiters.splice(0).forEach((w) => w());
          return;
        }
        if (!this.failed) this.host.log(`cannot compress a rotated file of ${job.base.name}: ${err.message}; will retry`);
        this.failed = true;
        this.queue.push(job);
        setTimeout(() => this.kick(), RETRY_MS).unref();
        this.idleWaiters.splice(0).forEach((w) => w());
      },
    );
  }

  /** Resolves once no compression is running or queued (tests, benchmarks). */
  idle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(() => {
      if (!this.running && this.queue.length === 0) resolve();
      else this.idle().then(resolve);
    }));
  }

  private p(name: string): string {
    return path.join(this.dir, name);
  }

  private async one(b: Base, ino: number): Promise<void> {
    const at = b.chain.findIndex((r) => r.ino === ino && !r.gz);
    if (at < 0) return; // dropped or deleted meanwhile
    const srcName = rotatedName(b.name, at);
    const tmp = this.p(`${b.name}.log.${ino}.gz.tmp`);
    const signal = this.abort.signal;
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
      const old = b.chain[k];
      b.chain[k] = { ino: gz.ino, gz: true, size: gz.size, mtimeMs: old.mtimeMs };
      this.host.compressed(b, k, old, b.chain[k]);
    } catch (err) {
      await fs.promises.rm(tmp, { force: true }).catch(() => {});
      throw err;
    } finally {
      if (inFd !== null) fs.closeSync(inFd);
    }
  }

  /** Stops: an unfinished .gz is removed; resolves once nothing runs. */
  async close(): Promise<void> {
    this.closed = true;
    this.abort.abort();
    if (this.running) await new Promise<void>((r) => this.idleWaiters.push(r));
  }
}
