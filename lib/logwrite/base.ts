// What logwrite knows about the files of one source (a "base" name): the current file and its
// rotated copies. Plain data, shared by the files' mechanism (files.ts) and their policies.

export interface Rotated {
  ino: number;
  gz: boolean;
  size: number;
  mtimeMs: number;
}

/** A file at an index >= max-log-files (left by a run with a larger limit): only the cap deletes it. */
export interface Stray {
  name: string;
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
  /** This batch's bytes for the current file, not written yet: pend[0, partBytes). */
  pend: Buffer | null = null;
  partBytes = 0;
  /** Size when the batch began (-1: not touched in this batch). */
  batchSize = -1;
  /** Written since the last fsync. */
  dirty = false;
  /** Rotated copies, index 0 newest. */
  chain: Rotated[] = [];
  constructor(readonly name: string) {}
}
