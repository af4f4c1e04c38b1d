// Socket files on disk: bind with stale-file recovery, and unlink only what is still ours.
//
// The reference fails to start when a previous run left its socket file behind ("address
// already in use"). We probe the old file: if nothing answers on it, it is stale and replaced;
// if a live daemon answers, we refuse with ERR_MEMLOGD_RUNNING rather than steal its path.

import fs from 'node:fs';
import * as native from '../native/index.js';
import { ERR, MemlogdError } from '../protocol/errors.js';

export type SocketKind = 'dgram' | 'stream';

/** A bound socket and the identity of its file, so exit unlinks it only if it is still ours. */
export interface BoundSocket {
  fd: number;
  path: string;
  /** Inode of the socket file we created (0 if unknown). */
  ino: number;
}

/** Reference backlog for the query socket is the Go default (SOMAXCONN); 128 is Linux's old one. */
const LISTEN_BACKLOG = 128;

function create(kind: SocketKind): number {
  return kind === 'dgram' ? native.socketDgram() : native.socketStream();
}

/** Is something alive on this socket path? (connect succeeds, or the backlog is full) */
function probe(kind: SocketKind, path: string): boolean {
  const fd = create(kind);
  try {
    native.connect(fd, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'EAGAIN' || code === 'EINPROGRESS';
  } finally {
    native.close(fd);
  }
}

/** Binds (and for a stream socket, listens on) path, replacing a stale socket file. */
export function bindSocket(kind: SocketKind, path: string, mode?: number, gid?: number): BoundSocket {
  const fd = create(kind);
  // Credentials are attached to a datagram when it is sent, and only if the receiver asks for
  // them by then: so from the first moment (the -daemonize child starts reading later).
  if (kind === 'dgram') native.setPassCred(fd, true);
  // bind creates the file with 0777 & ~umask and a datagram socket is usable at once: create it
  // private, then open it up to the requested mode.
  const umask = process.umask(0o177);
  try {
    try {
      native.bind(fd, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      const st = fs.lstatSync(path, { throwIfNoEntry: false });
      if (st && !st.isSocket()) {
        throw new MemlogdError(ERR.SOCKET_PATH_TAKEN, `${path} exists and is not a socket; refusing to replace it`, { path });
      }
      if (probe(kind, path)) {
        throw new MemlogdError(ERR.RUNNING, `another memlogd is already serving ${path}`, { path });
      }
      fs.rmSync(path, { force: true }); // stale file of a crashed run
      native.bind(fd, path);
    } finally {
      process.umask(umask);
    }
    // Explicit permissions before anyone can connect (listen comes after for stream sockets).
    if (gid !== undefined) fs.chownSync(path, -1, gid);
    if (mode !== undefined) fs.chmodSync(path, mode);
    if (kind === 'stream') native.listen(fd, LISTEN_BACKLOG);
    return { fd, path, ino: fs.lstatSync(path).ino };
  } catch (err) {
    native.close(fd);
    throw err;
  }
}

/** Describes an inherited, already bound socket (-fd-log / -fd-query), set up as bindSocket would. */
export function adoptSocket(kind: SocketKind, fd: number): BoundSocket {
  native.setCloexec(fd); // inherited across exec without it; nothing we spawn should keep it
  if (kind === 'dgram') native.setPassCred(fd, true); // see bindSocket
  const path = native.getsockname(fd);
  const st = path ? fs.lstatSync(path, { throwIfNoEntry: false }) : undefined;
  return { fd, path, ino: st?.ino ?? 0 };
}

/** Removes the socket file if it is still the one we bound (a newer daemon may own the path). */
export function unlinkIfOurs(s: BoundSocket): void {
  if (!s.path || s.ino === 0) return;
  const st = fs.lstatSync(s.path, { throwIfNoEntry: false });
  if (st && st.ino === s.ino) fs.rmSync(s.path, { force: true });
}
