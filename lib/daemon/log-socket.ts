// The logging socket: AF_UNIX SOCK_DGRAM, each datagram a source name plus SCM_RIGHTS fds
// (protocol v1). The sending side is lib/client/handoff.ts.
//
// Readiness comes from libuv (uv_poll through the addon); datagrams are drained with
// non-blocking recvmsg, a bounded number per wakeup so one flooding sender cannot starve the
// query socket or the pipes.

import * as native from '../native/index.js';
import { MAX_NAME_LEN } from '../protocol/constants.js';

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
    if (this.poll) return;
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

  /** Stops polling (a graceful restart in progress); start() goes on. */
  stop(): void {
    if (this.poll) native.pollStop(this.poll);
    this.poll = null;
  }

  /** Stops polling and closes the socket. */
  close(): void {
    this.stop();
    try {
      native.close(this.fd);
    } catch {
      // already closed: nothing to release
    }
  }
}
