// The cursor file of `logread --cursor-file`: where the last run stopped, written atomically
// (temp file + rename), read at start so the next run resumes with no duplicates.

import fs from 'node:fs';
import path from 'node:path';
import { parseCursor } from '../protocol/cursor.js';
import { UsageError } from '../protocol/errors.js';

/** The cursor saved in file, or undefined when the file does not exist or is empty. */
export function readCursorFile(file: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UsageError(`--cursor-file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const c = text.trim();
  if (c === '') return undefined;
  if (parseCursor(c) === null) throw new UsageError(`--cursor-file: ${file} does not hold a cursor (<instance>:<seq>): ${JSON.stringify(c.slice(0, 80))}`);
  return c;
}

/** Replaces file's content with the cursor atomically: a temp file in the same directory, renamed. */
export function writeCursorFile(file: string, cursor: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, cursor + '\n', { mode: 0o644 });
    fs.renameSync(tmp, file);
  } catch (err) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // not created
    }
    throw err;
  }
}

/** Keeps a cursor file up to date: at most one write per interval while running, and at the end. */
export class CursorFile {
  private written: string | undefined;
  private wanted: string | undefined;
  private timer: NodeJS.Timeout | null = null;
  private lastWrite = 0;
  /** The last write error (reported once, at the end). */
  error: Error | null = null;

  constructor(readonly file: string, private readonly intervalMs = 1000) {}

  /** The cursor in the file (see readCursorFile); remembers it as written. Checks it can be written. */
  read(): string | undefined {
    const dir = path.dirname(this.file);
    try {
      fs.accessSync(dir, fs.constants.W_OK);
    } catch (err) {
      throw new UsageError(`--cursor-file: cannot write in ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return (this.written = this.wanted = readCursorFile(this.file));
  }

  get cursor(): string | undefined {
    return this.wanted;
  }

  /** A new cursor to save; written now if the last write is old enough, else soon. */
  update(cursor: string): void {
    this.wanted = cursor;
    if (cursor === this.written || this.timer) return;
    const wait = this.lastWrite + this.intervalMs - Date.now();
    if (wait <= 0) this.write();
    else {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.write();
      }, wait);
      this.timer.unref();
    }
  }

  /** Writes the latest cursor now (synchronously) if it is not in the file yet. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.write();
  }

  private write(): void {
    if (this.wanted === undefined || this.wanted === this.written) return;
    this.lastWrite = Date.now();
    try {
      writeCursorFile(this.file, this.wanted);
      this.written = this.wanted;
      this.error = null;
    } catch (err) {
      this.error = err as Error;
    }
  }
}
