// The sending side of the logging socket: hand fds to memlogd under a source name, exactly as
// LinuxKit init does (one datagram: payload = name, SCM_RIGHTS = the fds). For logexec, the
// bench, and any init system written for Node.

import net from 'node:net';
import { constants } from 'node:os';
import * as native from '../native/index.js';
import { MAX_NAME_LEN } from '../protocol/constants.js';
import { ERR, MemlogdError } from '../protocol/errors.js';

/** How long a full logging socket queue (memlogd busy) is retried before giving up. */
const SEND_RETRY_MS = 5000;

/** Hands fds to memlogd under one name. The caller keeps (and should close) its copies of the fds. */
export function sendFds(socketPath: string, name: string | Buffer, fds: number[]): void {
  const payload = typeof name === 'string' ? Buffer.from(name) : name;
  if (payload.length > MAX_NAME_LEN) {
    throw new MemlogdError(ERR.NAME_TOO_LONG, `source name is ${payload.length} bytes, memlogd accepts at most ${MAX_NAME_LEN}`);
  }
  const s = native.socketDgram();
  try {
    native.connect(s, socketPath);
    // Non-blocking socket: a full queue is retried briefly, not waited on forever.
    if (!sendmsgUntil(s, payload, fds, Date.now() + SEND_RETRY_MS, 2)) {
      const err = native.errnoError(-constants.errno.EAGAIN, 'sendmsg', socketPath);
      err.message = `memlogd at ${socketPath} is not receiving (queue full)`;
      throw err;
    }
  } finally {
    native.close(s);
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * sendmsg on a non-blocking socket, tried again every pauseMs (a synchronous sleep) while the
 * peer's queue is full; false if it was still full at deadline.
 */
export function sendmsgUntil(fd: number, payload: Buffer, fds: number[], deadline: number, pauseMs: number): boolean {
  while (native.sendmsg(fd, payload, fds) === null) {
    if (Date.now() > deadline) return false;
    Atomics.wait(sleeper, 0, 0, pauseMs);
  }
  return true;
}

/**
 * Creates a pipe and hands its read end to memlogd under `name` (our copy of it is closed);
 * returns the write end (blocking, close-on-exec), which the caller owns.
 */
export function handOffPipe(socket: string, name: string | Buffer): number {
  return handOffPair(socket, name, native.pipe());
}

/**
 * Hands the first fd of a fresh pair (a pipe's read end, a socketpair's end) to memlogd under
 * `name` and closes it here, so that memlogd sees EOF as soon as the other is closed; returns
 * the other, which the caller owns. Both are closed if the hand-off fails.
 */
export function handOffPair(socket: string, name: string | Buffer, [theirs, ours]: [number, number]): number {
  try {
    sendFds(socket, name, [theirs]);
  } catch (err) {
    native.close(ours);
    throw err;
  } finally {
    native.close(theirs);
  }
  return ours;
}

/** handOffPipe as a writable stream: what the process writes into it, memlogd logs under name. */
export function openLogStream(socket: string, name: string): net.Socket {
  return new net.Socket({ fd: handOffPipe(socket, name), readable: false, writable: true });
}
