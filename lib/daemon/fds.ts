// memlogd's own file descriptors: the spare kept for the moment it runs out, and how it knows it
// has. At its fd limit (RLIMIT_NOFILE) the kernel installs the fds of a hand-off one by one,
// drops the rest and sets MSG_CTRUNC; the datagram then looks like a sender's mistake ("more fds
// than fit", "no fds"), so the daemon asks here whether it is itself out of them.

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

/** Can memlogd open no more fds right now? (Opening one fails with EMFILE or ENFILE.) */
export function atFdLimit(): boolean {
  try {
    fs.closeSync(fs.openSync('/dev/null', 'r'));
    return false;
  } catch (err) {
    return outOfFds(err);
  }
}

/** Open fds and the soft limit, for a note ("19999 open, limit 20000"); uses the spare to look. */
export function fdUsage(spare: SpareFd): string {
  const had = spare.release();
  try {
    const open = fs.readdirSync('/proc/self/fd').length - 1; // less the directory being read
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    return `${open} open, limit ${m?.[1] ?? 'unknown'}`;
  } catch (err) {
    return `count unknown: ${(err as NodeJS.ErrnoException).code}`;
  } finally {
    if (had) spare.refill();
  }
}
