// The log directory's files (logwrite's `<source>.log`, `.log.N`, `.log.N.gz`, and whatever else
// is there), newest first. logwrite keeps writing and rotating while we read, so each file is
// read once, through one open fd, and the bytes read are the bytes archived. A file that was
// replaced, moved, shrank or vanished between listing and reading is noted, never fatal.

import fs from 'node:fs';
import path from 'node:path';
import { parseFileName } from '../logwrite/names.js';
import { humanBytes } from '../logread/format.js';
import type { Budget } from './content.js';
import { Skip, type Produced, type Task } from './task.js';

export interface LogFile {
  /** Path relative to the log directory. */
  rel: string;
  path: string;
  size: number;
  mtimeMs: number;
  ino: number;
  gz: boolean;
}

// Listing or reading one file takes milliseconds; the limit is for a file system that hangs.
const LOG_FILE_LIMIT_MS = 10_000;
/** Bytes read before the part of a file that fits, so a PEM block that starts there is still seen whole. */
const REDACT_CONTEXT = 64 * 1024;
// Files opened right after the listing, so that each is read as it was then, wherever logwrite
// moves it meanwhile. Far below the 1024 fds a process may have by default (RLIMIT_NOFILE);
// files beyond these are opened when their turn comes.
const HELD_OPEN = 256;
/** How deep below the log directory files are looked for (logwrite writes one flat directory). */
const MAX_DEPTH = 8;
/** Bytes read at a time. */
const CHUNK = 1024 * 1024;

/** Rotation index of a file for ordering: the current file (-1) before .0 before .1... */
function rotation(rel: string): number {
  return parseFileName(path.basename(rel))?.index ?? -1;
}

/**
 * The regular files below dir, newest first (by modification time; a rotated file after the one
 * it was rotated from when their times are equal); what is not a regular file, in `others`.
 * exclude: paths never listed (the archive being written, when it is inside dir).
 */
export async function listLogFiles(dir: string, exclude: ReadonlySet<string>): Promise<{ files: LogFile[]; others: Array<{ rel: string; why: string }> }> {
  const files: LogFile[] = [];
  const others: Array<{ rel: string; why: string }> = [];
  const walk = async (rel: string, depth: number): Promise<void> => {
    const entries = await fs.promises.readdir(path.join(dir, rel), { withFileTypes: true });
    for (const e of entries) {
      const r = rel ? path.join(rel, e.name) : e.name;
      const p = path.join(dir, r);
      if (exclude.has(p)) continue;
      if (e.isDirectory()) {
        if (depth < MAX_DEPTH) await walk(r, depth + 1);
        else others.push({ rel: r, why: `directory deeper than ${MAX_DEPTH} levels: not read` });
      } else if (e.isFile()) {
        try {
          const st = await fs.promises.lstat(p);
          files.push({ rel: r, path: p, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, gz: e.name.endsWith('.gz') });
        } catch {
          // gone between readdir and lstat: rotated away, nothing to note about a file we never saw whole
        }
      } else others.push({ rel: r, why: e.isSymbolicLink() ? 'symbolic link: not followed' : 'not a regular file' });
    }
  };
  await walk('', 0);
  files.sort((a, b) => b.mtimeMs - a.mtimeMs || rotation(a.rel) - rotation(b.rel) || a.rel.localeCompare(b.rel));
  return { files, others };
}

export interface ReadFile {
  data: Buffer;
  /** Size of the file when it was opened. */
  size: number;
  /** Only its newest bytes were read. */
  tail: boolean;
  notes: string[];
}

/**
 * Opens f for reading. O_NOFOLLOW and O_NONBLOCK: a file replaced by a symlink or a FIFO since it
 * was listed must neither lead elsewhere nor block. Throws Skip when it is gone.
 */
export async function openLogFile(f: LogFile): Promise<fs.promises.FileHandle> {
  try {
    return await fs.promises.open(f.path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Skip('gone before it could be read (rotated or removed)');
    if (code === 'ELOOP') throw new Skip('replaced by a symbolic link since it was listed: not followed');
    throw err;
  }
}

/**
 * Reads f once through one fd (fh, opened when it was listed, or opened now), and closes it:
 * everything, or (maxBytes, not for gzip files) only its newest maxBytes. An fd keeps what the
 * file held when it was opened, even when logwrite renames it (rotation) or deletes it (after
 * compressing it) before it is read.
 */
export async function readOnce(f: LogFile, maxBytes: number | null, signal: AbortSignal, fh?: fs.promises.FileHandle): Promise<ReadFile> {
  const notes: string[] = [];
  fh ??= await openLogFile(f);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Skip('no longer a regular file');
    if (st.ino !== f.ino) notes.push('replaced between listing and opening (rotated): archived the file that had this name when opened');
    else if (st.size < f.size) notes.push(`shrank from ${humanBytes(f.size)} to ${humanBytes(st.size)} since it was listed`);
    const start = maxBytes !== null && !f.gz && st.size > maxBytes ? st.size - maxBytes : 0;
    const data = Buffer.allocUnsafe(st.size - start);
    let n = 0;
    while (n < data.length) {
      if (signal.aborted) break;
      const { bytesRead } = await fh.read(data, n, Math.min(CHUNK, data.length - n), start + n);
      if (bytesRead === 0) {
        notes.push(`shrank while being read: ${humanBytes(start + n)} of ${humanBytes(st.size)} were there`);
        break;
      }
      n += bytesRead;
    }
    const now = await fs.promises.lstat(f.path).catch(() => null);
    if (!now || now.ino !== st.ino) notes.push('rotated away since it was opened: archived what it held then, under the name it had');
    return { data: data.subarray(0, n), size: st.size, tail: start > 0, notes };
  } finally {
    await fh.close();
  }
}

/** The log directory's tasks: its listing, then one per file, newest first, within the budget. */
export class LogDir {
  private files: LogFile[] = [];
  /** fds opened at the listing, until their file is read. */
  private readonly held = new Map<LogFile, fs.promises.FileHandle>();

  constructor(readonly dir: string, private readonly exclude: ReadonlySet<string>, private readonly budget: Budget) {}

  /** Lists the files (for fileTasks); what is not a regular file comes back as skipped items. */
  listing(): Task {
    const { dir } = this;
    return {
      path: 'logs/', source: { type: 'file', path: dir }, limitMs: LOG_FILE_LIMIT_MS,
      run: async (signal) => {
        let l: Awaited<ReturnType<typeof listLogFiles>>;
        try {
          l = await listLogFiles(dir, this.exclude);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Skip(`no log directory ${dir} (logwrite never ran?)`);
          throw err;
        }
        if (l.files.length === 0 && l.others.length === 0) throw new Skip(`no files in ${dir} (logwrite never ran?)`);
        this.files = l.files;
        for (const f of l.files.slice(0, HELD_OPEN)) {
          if (signal.aborted) break;
          const fh = await openLogFile(f).catch(() => null); // gone already: its task says so
          if (fh) this.held.set(f, fh);
        }
        return l.others.map((x): Produced => ({
          path: `logs/${x.rel}`, source: { type: 'file', path: path.join(dir, x.rel) }, data: Buffer.alloc(0), skip: x.why,
        }));
      },
    };
  }

  fileTasks(): Task[] {
    return this.files.map((f) => {
      const item = `logs/${f.rel}`;
      const source = { type: 'file' as const, path: f.path };
      return {
        path: item, source, limitMs: LOG_FILE_LIMIT_MS,
        run: async (signal: AbortSignal): Promise<Produced[]> => {
          const fh = this.held.get(f);
          this.held.delete(f);
          if (this.budget.left === 0) {
            await fh?.close();
            throw new Skip(`over --max-size: ${humanBytes(f.size)} did not fit`);
          }
          const r = await readOnce(f, this.budget.left + REDACT_CONTEXT, signal, fh);
          return [{ path: item, source, data: r.data, gzip: f.gz, budget: true, truncated: r.tail, notes: r.notes, sourceSize: r.size }];
        },
      };
    });
  }

  /** Closes the fds of files not read (the run was interrupted). */
  async close(): Promise<void> {
    for (const fh of this.held.values()) await fh.close().catch(() => {});
    this.held.clear();
  }
}
