// The total cap (--max-total-size): which files go when the directory would grow beyond it. The
// oldest rotated file of any source goes first (strays left by a larger -max-log-files count as
// rotated); room.ts then falls back to other sources' current files.

import type { Base } from './base.js';
import type { LogFiles } from './files.js';

/** Deletes the oldest rotated files (any source) until n more bytes fit; false if still over. */
export function trimRotated(files: LogFiles, n: number): boolean {
  while (files.overCap(n)) {
    let stray = -1;
    let base: Base | null = null;
    let mtime = Infinity;
    files.strays.forEach((s, i) => {
      if (s.mtimeMs < mtime) {
        stray = i;
        base = null;
        mtime = s.mtimeMs;
      }
    });
    for (const b of files.bases.values()) {
      const last = b.chain[b.chain.length - 1];
      if (last && last.mtimeMs < mtime) {
        base = b;
        stray = -1;
        mtime = last.mtimeMs;
      }
    }
    if (base) files.dropOldestRotated(base);
    else if (stray >= 0) files.dropStray(stray);
    else return false;
  }
  return true;
}

/** The current file (not b's) written longest ago and not empty, to delete when the cap needs it. */
export function oldestOtherCurrent(files: LogFiles, b: Base): Base | null {
  let v: Base | null = null;
  for (const x of files.bases.values()) {
    if (x === b || x.ino < 0 || x.size === 0 || x.partBytes > 0) continue;
    if (!v || x.mtimeMs < v.mtimeMs) v = x;
  }
  return v;
}
