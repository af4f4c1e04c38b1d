// The three ways a stream's read end reaches memlogd, as LinuxKit init hands them over
// (pkg/init/cmd/service/logging.go, observed with strace on the reference harness `initsend`):
//
//   pipe        a pipe; its read end is sent (what logexec always did, and what most inits do).
//   socketpair  init's onboot/onshutdown path (runc.go, remoteLog.Open): socketpair(AF_UNIX,
//               SOCK_STREAM); one end is sent, the container writes into the other.
//   fifo        init's service path (cmd.go, remoteLog.Path): mkfifo(<dir>/<name>.log, 0600)
//               after removing whatever is at that path; the read end, opened blocking, is sent
//               once a writer has opened the FIFO; containerd's shim writes into it.
//
// Each returns the write side as a stream the caller owns, and a cleanup for what it created.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { handOffPair, openLogStream, sendFds } from '../client/handoff.js';
import * as native from '../native/index.js';

export const HANDOFF_MODES = ['pipe', 'socketpair', 'fifo'] as const;
export type HandoffMode = (typeof HANDOFF_MODES)[number];

/** LinuxKit init's FIFO directory (remoteLog.fifoDir). */
export const DEFAULT_FIFO_DIR = '/var/run';

/** Mode of the FIFOs init creates (syscall.Mkfifo(path, 0600)). */
const FIFO_MODE = 0o600;

export interface LogSink {
  /** What the command's output is copied into; memlogd reads the other side under the name. */
  stream: net.Socket;
  /** Removes what the hand-off created on disk (the FIFO); safe to call twice. */
  cleanup: () => void;
}

const writable = (fd: number) => new net.Socket({ fd, readable: false, writable: true });

/** Creates the channel for one source name and hands its read side to memlogd. */
export function openSink(mode: HandoffMode, socket: string, name: string, fifoDir = DEFAULT_FIFO_DIR): LogSink {
  switch (mode) {
    case 'pipe':
      return { stream: openLogStream(socket, name), cleanup: () => {} };
    case 'socketpair':
      return socketpairSink(socket, name);
    case 'fifo':
      return fifoSink(socket, name, fifoDir);
  }
}

function socketpairSink(socket: string, name: string): LogSink {
  // init keeps its copy open for the life of the action; handOffPair closes ours so that memlogd
  // sees EOF as soon as the command's output ends.
  const [ours, theirs] = native.socketpair(native.SOCK_STREAM);
  return { stream: writable(handOffPair(socket, name, [theirs, ours])), cleanup: () => {} };
}

function fifoSink(socket: string, name: string, dir: string): LogSink {
  const file = path.join(dir, `${name}.log`);
  // Like init: whatever is at the path goes (a stale FIFO, a file of the same name).
  fs.rmSync(file, { force: true });
  native.mkfifo(file, FIFO_MODE);
  const cleanup = () => fs.rmSync(file, { force: true });
  let r = -1;
  let w = -1;
  try {
    // init opens the read end blocking in a goroutine and waits for the shim to open the write
    // end. One event loop cannot wait like that, so the read end is opened non-blocking (which
    // returns at once), the write end after it (which then does not wait either), and the read
    // end is made blocking again before it is sent: memlogd gets the very fd init would send.
    r = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    w = fs.openSync(file, fs.constants.O_WRONLY);
    native.setNonBlocking(r, false);
    sendFds(socket, name, [r]);
  } catch (err) {
    if (w >= 0) fs.closeSync(w);
    cleanup();
    throw err;
  } finally {
    if (r >= 0) fs.closeSync(r);
  }
  return { stream: writable(w), cleanup };
}
