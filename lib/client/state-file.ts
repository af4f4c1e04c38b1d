// A client's state file on disk (logwrite's and logforward's): read back as JSON, replaced
// atomically. A crash at any moment leaves either the old or the new content, never a mix.

import fs from 'node:fs';
import path from 'node:path';
import { ERR, MemlogdError } from '../protocol/errors.js';

/** A state file that exists but is not a state: `invalid state file: <what is wrong>`. */
export function invalidState(what: string): MemlogdError {
  return new MemlogdError(ERR.STATE_INVALID, `invalid state file: ${what}`);
}

/** The file parsed as JSON; null when it does not exist. Throws when it exists but is not JSON. */
export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw invalidState('not JSON');
  }
}

export interface AtomicWriteOptions {
  /** fsync the data before the rename, and the directory after it. */
  sync: boolean;
  /** The directory, already open (for its fsync); opened and closed here when not given. */
  dirFd?: number | null;
}

/**
 * Replaces file with data: a temporary `<file>.tmp` beside it (never following a link), written
 * whole, fsynced, renamed over file, then the directory fsynced so the rename is durable too.
 * Throws the fs error (ENOSPC, EROFS...) and leaves the previous file in place.
 */
export function writeFileAtomic(file: string, data: string | Buffer, o: AtomicWriteOptions): void {
  const tmp = `${file}.tmp`;
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o644);
  try {
    let off = 0;
    while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
    if (o.sync) fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    try {
      fs.unlinkSync(tmp);
    } catch { /* best effort */ }
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
  if (!o.sync) return;
  if (o.dirFd !== undefined && o.dirFd !== null) fs.fsyncSync(o.dirFd);
  else if (o.dirFd === undefined) {
    const dfd = fs.openSync(path.dirname(file), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  }
}
