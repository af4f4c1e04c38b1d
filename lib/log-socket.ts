// The logging socket: AF_UNIX SOCK_DGRAM, each datagram a source name plus SCM_RIGHTS fds
// (protocol v1). Also the sending side, for logexec and for Node init systems.
//
// Readiness comes from libuv (uv_poll through the addon); datagrams are drained with
// non-blocking recvmsg, a bounded number per wakeup so one flooding sender cannot starve the
// query socket or the pipes.

import * as native from './native.js';
import { MAX_NAME_LEN } from './protocol.js';

/** Datagrams handled per readiness callback before yielding to the event loop. */
const DRAIN_PER_WAKEUP = 64;

export interface Datagram {
  /** The name bytes (at most MAX_NAME_LEN of them). */
  name: Buffer;
  /** Real payload length: longer than name.length means the name was too long. */
  nameLength: number;
  /** Received fds, already close-on-exec; the receiver owns them. */
  fds: number[];
  /** The kernel had more fds than fit and dropped them. */
  fdsTruncated: boolean;
  /** Sender credentials when SO_PASSCRED is on (else -1). */
  pid: number;
  uid: number;
  gid: number;
}

export class LogSocket {
  private poll: native.PollHandle | null = null;
  private readonly buf = Buffer.allocUnsafe(MAX_NAME_LEN + 1);

  constructor(readonly fd: number, private readonly onDatagram: (d: Datagram) => void,
    private readonly onError: (err: Error) => void) {}

  start(): void {
    native.setNonBlocking(this.fd, true);
    this.poll = native.pollStart(this.fd, native.POLL_READABLE, (status: number) => {
      if (status < 0) {
        this.onError(native.errnoError(status, 'poll'));
        return;
      }
      this.drain();
    });
  }

  private drain(): void {
    for (let i = 0; i < DRAIN_PER_WAKEUP; i++) {
      let r: native.RecvResult | null;
      try {
        r = native.recvmsg(this.fd, this.buf);
      } catch (err) {
        this.onError(err as Error);
        return;
      }
      if (r === null) return;
      this.onDatagram({
        name: Buffer.from(this.buf.subarray(0, r.bytes)),
        nameLength: r.fullLength,
        fds: r.fds,
        fdsTruncated: r.ctrunc,
        pid: r.pid,
        uid: r.uid,
        gid: r.gid,
      });
    }
  }

  /** Stops polling and closes the socket. */
  close(): void {
    if (this.poll) native.pollStop(this.poll);
    this.poll = null;
    try {
      native.close(this.fd);
    } catch {
      // already closed: nothing to release
    }
  }
}

/**
 * Hands fds to memlogd under one name, exactly as LinuxKit init does: one datagram, payload =
 * name, SCM_RIGHTS = fds. The caller keeps (and should close) its copies of the fds.
 */
export function sendFds(socketPath: string, name: string | Buffer, fds: number[]): void {
  const payload = typeof name === 'string' ? Buffer.from(name) : name;
  if (payload.length > MAX_NAME_LEN) {
    throw Object.assign(new Error(`source name is ${payload.length} bytes, memlogd accepts at most ${MAX_NAME_LEN}`), { code: 'ERR_NAME_TOO_LONG' });
  }
  const s = native.socketDgram();
  try {
    native.connect(s, socketPath);
    // Non-blocking socket: a full queue (memlogd busy) is retried briefly, not waited on forever.
    const deadline = Date.now() + 5000;
    while (native.sendmsg(s, payload, fds) === null) {
      if (Date.now() > deadline) {
        throw Object.assign(new Error(`memlogd at ${socketPath} is not receiving (queue full)`), { code: 'EAGAIN', syscall: 'sendmsg' });
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
    }
  } finally {
    native.close(s);
  }
}
