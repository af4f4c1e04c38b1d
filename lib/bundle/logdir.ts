// The log directory's files (logwrite's `<source>.log`, `.log.N`, `.log.N.gz`, and whatever else
// is there), newest first. logwrite keeps writing and rotating while we read: the listing is
// made so that a rotation cannot hide a file, files are opened by identity right after it, each
// is read once through its fd, and the bytes read are the bytes archived. A file that was
// replaced, moved, shrank or vanished meanwhile is noted, never fatal.

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
/** Passes over the directory at most (see listLogFiles). */
const MAX_SCANS = 5;
/** How deep below the log directory files are looked for (logwrite writes one flat directory). */
const MAX_DEPTH = 8;
/** Bytes read at a time. */
const CHUNK = 1024 * 1024;

/** Rotation index of a file for ordering: the current file (-1) before .0 before .1... */
function rotation(rel: string): number {
  return parseFileName(path.basename(rel))?.index ?? -1;
}

type Listing = { files: LogFile[]; others: Array<{ rel: string; why: string }> };

/** One pass over dir: its regular files, and what is not one. */
async function scan(dir: string, exclude: ReadonlySet<string>): Promise<Listing> {
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
          // renamed between readdir and lstat: the other pass sees it
        }
      } else others.push({ rel: r, why: e.isSymbolicLink() ? 'symbolic link: not followed' : 'not a regular file' });
    }
  };
  await walk('', 0);
  return { files, others };
}

/**
 * The regular files below dir, newest first (by modification time; a rotated file after the one
 * it was rotated from when their times are equal); what is not a regular file, in `others`.
 * exclude: paths never listed (the archive being written, when it is inside dir).
 *
 * A readdir that runs while logwrite renames files (a rotation shifts every `.log.N`) can miss a
 * name, and a name can be gone by its lstat. Measured with 41 files rotating every 5 ms: 44 % of
 * single passes missed one, 1 in 500 of two passes together, none of 570 runs of this. So the
 * directory is read at least three times, until a pass finds no file the others missed (at most
 * MAX_SCANS), and the files of all passes are kept, one per inode, under its latest name.
 */
export async function listLogFiles(dir: string, exclude: ReadonlySet<string>): Promise<Listing> {
  let pass = await scan(dir, exclude);
  const byIno = new Map(pass.files.map((f) => [f.ino, f]));
  for (let i = 1; i < MAX_SCANS; i++) {
    pass = await scan(dir, exclude);
    let found = false;
    for (const f of pass.files) {
      if (!byIno.has(f.ino)) found = true;
      byIno.set(f.ino, f);
    }
    if (!found && i > 1) break;
  }
  const files = [...byIno.values()];
  files.sort((a, b) => b.mtimeMs - a.mtimeMs || rotation(a.rel) - rotation(b.rel) || a.rel.localeCompare(b.rel));
  return { files, others: pass.others };
}

/**
 * An fd for each of the files (in order, up to max) that still exists, wherever it is now: files
 * are opened by name, an fd is kept for the listed file whose inode it reaches, and a file whose
 * name now leads elsewhere is looked for once more by its inode.
 */
export async function openListed(dir: string, files: readonly LogFile[], exclude: ReadonlySet<string>, signal: AbortSignal): Promise<Map<LogFile, fs.promises.FileHandle>> {
  const held = new Map<LogFile, fs.promises.FileHandle>();
  const byIno = new Map(files.map((f) => [f.ino, f]));
  const keep = async (p: string): Promise<void> => {
    const fh = await openLogFile({ path: p }).catch(() => null);
    if (!fh) return;
    const f = byIno.get((await fh.stat()).ino);
    if (f && !held.has(f)) held.set(f, fh);
    else await fh.close();
  };
  for (const f of files) {
    if (signal.aborted) break;
    if (!held.has(f)) await keep(f.path);
  }
  if (held.size < files.length && !signal.aborted) {
    for (const now of (await scan(dir, exclude)).files) {
      const f = byIno.get(now.ino);
      if (f && !held.has(f)) await keep(now.path);
    }
  }
  return held;
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
export async function openLogFile(f: Pick<LogFile, 'path'>): Promise<fs.promises.FileHandle> {
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
        for (const [f, fh] of await openListed(dir, l.files.slice(0, HELD_OPEN), this.exclude, signal)) this.held.set(f, fh);
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
