// Room policy: what must happen before a line of n bytes is buffered for a file. Its file must be
// open and named in the state file (so a crash cuts it back rather than losing track of it), it
// must not overflow -max-log-size (rotate first), and the directory must stay under
// --max-total-size (drop the oldest rotated files, then other sources' current files, then
// rotate this one). Every step that changes files happens at a clean point, where the files and
// the position agree.

import type { Base } from './base.js';
import { oldestOtherCurrent } from './cap.js';
import type { LogFiles } from './files.js';

/**
 * Prepares b for n more bytes. cleanPoint(writeState) flushes what is buffered and, with
 * writeState, records the state file (which registers every open file) before a change.
 */
export function makeRoom(files: LogFiles, b: Base, n: number, cleanPoint: (writeState: boolean) => void): void {
  for (let guard = 0; guard < 1000; guard++) {
    if (b.fd === null) files.openCurrent(b);
    if (b.regIno !== b.ino) {
      // A file the state file does not name yet: name it before writing (a crash then cuts it back).
      cleanPoint(true);
      continue;
    }
    if (files.wouldOverflow(b, n)) {
      cleanPoint(true);
      files.rotate(b);
      continue;
    }
    if (files.overCap(n) && !files.trimRotated(n)) {
      const other = oldestOtherCurrent(files, b);
      if (other) {
        cleanPoint(false);
        files.deleteCurrent(other);
        continue;
      }
      if (b.size + b.partBytes > 0) {
        cleanPoint(true);
        files.rotate(b);
        continue;
      }
    }
    return;
  }
  throw new Error(`logwrite: no room for a line of ${b.name}`);
}
