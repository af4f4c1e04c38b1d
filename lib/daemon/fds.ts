// memlogd's own file descriptors: the spare kept for the moment it runs out.

import fs from 'node:fs';
import * as native from '../native/index.js';

/** Is this error "no fd left" (per process or system-wide)? */
export function outOfFds(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}

/**
 * One fd held open on /dev/null, given up when memlogd is at its fd limit: reopening a pipe
 * needs a second fd for a moment (the new description before the received one is closed), and
 * so do the checks below.
 */
export class SpareFd {
  private fd = -1;

  /** Takes a spare if there is none (quietly: at the limit there may be none to take). */
  refill(): void {
    if (this.fd >= 0) return;
    try {
      this.fd = fs.openSync('/dev/null', 'r');
    } catch {
      // out of fds: the next refill tries again
    }
  }

  /** Closes the spare to make room for one fd; false if there was none. */
  release(): boolean {
    if (this.fd < 0) return false;
    native.close(this.fd);
    this.fd = -1;
    return true;
  }
}
