// The archive: a gzipped tar written by node-tar as items arrive, hashed on its way out. A file
// is written under a temporary name (owner-only from its creation) and renamed when complete, so
// a bundle that failed half-way never looks like a finished one; its `<name>.sha256` sidecar is
// written the same way. `-o -` streams to stdout instead (no sidecar: there is no file beside it).

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Header, Pack, ReadEntry } from 'tar';
import { sidecarLine } from './manifest.js';

/** Owner read/write only: a bundle holds every log of the machine. */
export const ARCHIVE_MODE = 0o600;

/** Writes a file under a temporary name in its directory, owner-only, then renames it into place. */
function tempPath(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.partial`);
}

/** `EPIPE`, `ENOSPC`...: the errno name says it best; the message otherwise. */
function codeOrMessage(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EPIPE' ? 'EPIPE (the reader went away)' : code ?? err.message;
}

export class Archive {
  private readonly pack = new Pack({ gzip: true, portable: true });
  private readonly hash = createHash('sha256');
  private bytes = 0;
  private readonly written: Promise<void>;
  private failure: Error | null = null;
  private readonly out: Writable;

  /**
   * file: the archive's final path, or null to write to `out` (stdout). The temporary file, when
   * there is one, is `temp` (so a collector can leave it out of what it reads).
   */
  private constructor(readonly top: string, readonly file: string | null, readonly temp: string | null, out: Writable) {
    const tee = new Transform({
      transform: (chunk: Buffer, _enc, cb) => {
        this.hash.update(chunk);
        this.bytes += chunk.length;
        cb(null, chunk);
      },
    });
    this.pack.pipe(tee);
    this.out = out;
    this.written = pipeline(tee, out, { end: file !== null }).catch((err: Error) => {
      this.failure = new Error(`cannot write the archive to ${file ?? 'stdout'}: ${codeOrMessage(err)}`, { cause: err });
      this.pack.resume(); // let adds go on to the end, where the failure is thrown
      throw this.failure;
    });
    this.written.catch(() => {});
  }

  /** An archive written to file (via a temporary file beside it), or to out when file is null. */
  static create(top: string, file: string | null, out: Writable): Archive {
    if (file === null) return new Archive(top, null, null, out);
    const temp = tempPath(file);
    let fd: number;
    try {
      fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, ARCHIVE_MODE);
    } catch (err) {
      throw new Error(`cannot create ${file}: ${codeOrMessage(err as Error)}`, { cause: err });
    }
    fs.fchmodSync(fd, ARCHIVE_MODE); // whatever the umask
    return new Archive(top, file, temp, fs.createWriteStream('', { fd }));
  }

  /** Adds one file, `<top>/<name>`, owner-only; resolves once the archive can take more. */
  async add(name: string, data: Buffer, mtime: Date): Promise<void> {
    if (this.failure) throw this.failure;
    const entry = new ReadEntry(new Header({ path: `${this.top}/${name}`, mode: ARCHIVE_MODE, size: data.length, mtime, type: 'File' }));
    entry.end(data);
    if (!this.pack.write(entry)) await new Promise<void>((resolve) => this.pack.once('drain', resolve));
  }

  /** Ends the archive; renames it into place and writes the sidecar. Returns its sha256 and size. */
  async finish(): Promise<{ sha256: string; bytes: number }> {
    this.pack.end();
    await this.written;
    const sha256 = this.hash.digest('hex');
    if (this.file !== null && this.temp !== null) {
      fs.renameSync(this.temp, this.file);
      const side = `${this.file}.sha256`;
      const sideTemp = tempPath(side);
      fs.writeFileSync(sideTemp, sidecarLine(sha256, path.basename(this.file)), { mode: ARCHIVE_MODE, flag: 'wx' });
      fs.renameSync(sideTemp, side);
    }
    return { sha256, bytes: this.bytes };
  }

  /** Gives up: closes and removes the temporary file. */
  abort(): void {
    this.pack.destroy?.();
    if (this.temp !== null) {
      this.out.destroy();
      fs.rmSync(this.temp, { force: true });
    }
  }
}
