// The channel of a graceful restart: an AF_UNIX SOCK_SEQPACKET socketpair between the serving
// memlogd and its successor: message boundaries, SCM_RIGHTS fds with the message they belong to,
// reliable and ordered, and an end of file when the other side is gone. Each message is
// [u32 length of the JSON header][header][binary body], at most MAX_MESSAGE bytes (the kernel
// refuses datagrams beyond the socket's send buffer), with at most MAX_FDS_PER_MESSAGE fds.
// Larger bodies (the store) go as several messages.

import { sendmsgUntil } from '../client/handoff.js';
import * as native from '../native/index.js';

/** Bytes of one datagram: well under the default AF_UNIX send buffer (208 KiB). */
export const MAX_MESSAGE = 64 * 1024;
/** How long one control message between memlogd and its supervisor may wait for the other side to read. */
export const CONTROL_SEND_MS = 10_000;
/** Fds per message: Linux's SCM_MAX_FD is 253. */
export const MAX_FDS_PER_MESSAGE = 250;

export interface Message {
  header: Record<string, unknown>;
  body: Buffer;
  fds: number[];
}

/** Encodes one message (header JSON and body must fit in MAX_MESSAGE). */
export function encodeMessage(header: Record<string, unknown>, body: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.from(JSON.stringify(header));
  const out = Buffer.allocUnsafe(4 + h.length + body.length);
  out.writeUInt32BE(h.length, 0);
  h.copy(out, 4);
  body.copy(out, 4 + h.length);
  if (out.length > MAX_MESSAGE) throw new RangeError(`handover message of ${out.length} bytes`);
  return out;
}

export function decodeMessage(buf: Buffer, fds: number[]): Message {
  const n = buf.readUInt32BE(0);
  return { header: JSON.parse(buf.toString('utf8', 4, 4 + n)) as Record<string, unknown>, body: buf.subarray(4 + n), fds };
}

/** Sends datagrams on a socketpair end, waiting (briefly, synchronously) while the peer's queue is full. */
export class Sender {
  constructor(private readonly fd: number, private readonly deadline: number) {}

  send(header: Record<string, unknown>, body?: Buffer, fds: number[] = []): void {
    if (!sendmsgUntil(this.fd, encodeMessage(header, body), fds, this.deadline, 1)) {
      throw Object.assign(new Error('the successor does not read the hand-over'), { code: 'ETIMEDOUT' });
    }
  }

  /** A large body in pieces, each with the header plus its index; fds go with the first. */
  sendChunked(header: Record<string, unknown>, body: Buffer, fds: number[] = []): void {
    const room = MAX_MESSAGE - 4 - Buffer.byteLength(JSON.stringify({ ...header, part: 0, parts: 0 })) - 64;
    const parts = Math.max(1, Math.ceil(body.length / room));
    for (let i = 0; i < parts; i++) this.send({ ...header, part: i, parts }, body.subarray(i * room, (i + 1) * room), i === 0 ? fds : []);
  }
}

/** Receives messages as they come (readiness through uv_poll), in order. */
export class Receiver {
  private readonly buf = Buffer.allocUnsafe(MAX_MESSAGE + 1);
  private poll: native.PollHandle | null = null;
  private readonly queue: Message[] = [];
  private waiting: ((m: Message | null) => void) | null = null;
  private ended = false;

  constructor(private readonly fd: number) {
    native.setNonBlocking(fd, true);
    this.poll = native.pollStart(fd, native.POLL_READABLE, () => this.drain());
  }

  private drain(): void {
    for (;;) {
      let r: native.RecvResult | null;
      try {
        r = native.recvmsg(this.fd, this.buf);
      } catch {
        r = null;
        this.end();
        return;
      }
      if (r === null) return;
      if (r.bytes === 0 && r.fds.length === 0) {
        this.end(); // end of file: the peer is gone
        return;
      }
      const m = decodeMessage(Buffer.from(this.buf.subarray(0, r.bytes)), r.fds);
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = null;
        w(m);
      } else this.queue.push(m);
    }
  }

  private end(): void {
    this.ended = true;
    this.stop();
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w(null);
    }
  }

  /** The next message, or null when the peer is gone. */
  next(): Promise<Message | null> {
    const m = this.queue.shift();
    if (m) return Promise.resolve(m);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  /** Reassembles a body sent with sendChunked, starting with first. */
  async chunked(first: Message): Promise<Buffer> {
    const parts = Number(first.header.parts);
    const bodies = [first.body];
    for (let i = 1; i < parts; i++) {
      const m = await this.next();
      if (!m || m.header.part !== i) throw new Error('the hand-over lost a piece of the store');
      bodies.push(m.body);
    }
    return Buffer.concat(bodies);
  }

  stop(): void {
    if (this.poll) native.pollStop(this.poll);
    this.poll = null;
  }
}
