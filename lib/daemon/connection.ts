// One accepted query client: reads its request (a v1 mode byte or a v2 JSON line), then is the
// Sink its Reader writes to. Everything it needs from the server comes through ConnectionHost.
//
// Fixes from the reference: a client that connects and says nothing delays nobody and is dropped
// after the handshake timeout; an unknown mode byte gets the connection closed.

import * as native from '../native/index.js';
import { MAX_REQUEST_BYTES, V2_REQUEST_BYTE } from '../protocol/constants.js';
import { ProtocolError } from '../protocol/errors.js';
import { encodeError } from '../protocol/v2.js';
import type { Reader, ReaderState, Sink } from './reader.js';

/** After a final record (error, stats), how long to wait for the client to hang up. */
const LINGER_MS = 2000;

/** What a connection asks of the query server. */
export interface ConnectionHost {
  readonly handshakeTimeoutMs: number;
  /** Records one of memlogd's own events. */
  log(msg: string): void;
  /** Is this peer allowed to query? (The host logs a refusal.) */
  allowed(conn: Connection): boolean;
  /** A v1 mode byte: its reader, or null to close the connection (an unknown mode). */
  requestV1(conn: Connection, mode: number): Reader | null;
  /** A v2 request line: its reader, or the text to send before closing. Throws ProtocolError. */
  requestV2(conn: Connection, line: string): Reader | string;
  /** The connection is closed: forget it and its reader. */
  forget(conn: Connection): void;
  /** A reader continued from a predecessor's state (graceful restart). */
  resumeReader(conn: Connection, state: ReaderState): Reader;
}

/** A connection as a successor continues it (graceful restart; JSON). */
export interface ConnectionState {
  pid: number;
  uid: number;
  /** The request bytes received so far (base64), while there is no answer yet. */
  request?: string;
  reader?: ReaderState;
  /** A last record not sent in full yet (base64); '' once sent, while waiting for the hang-up. */
  closing?: string;
}

/** One accepted client: reads its request, then is the Sink its Reader writes to. */
export class Connection implements Sink {
  reader: Reader | null = null;
  readonly pid: number = -1;
  readonly uid: number = -1;
  private poll: native.PollHandle | null;
  private events = native.POLL_READABLE;
  private timer: NodeJS.Timeout | null;
  private inbuf = Buffer.allocUnsafe(4096);
  /** Bytes of a v2 request line received so far (inbuf[0, reqLen)); -1 once answered. */
  private reqLen = 0;
  private closed = false;
  /** Set when the connection only waits to flush a final text (stats, error) before closing. */
  private closingText: Buffer | null = null;

  /** state: continue a predecessor's connection (graceful restart) instead of a new one. */
  constructor(readonly fd: number, private readonly host: ConnectionHost, state?: ConnectionState) {
    try {
      [this.pid, this.uid] = native.peerCred(fd);
    } catch {
      // not knowable (should not happen on AF_UNIX): the allow-list then refuses uid -1
    }
    this.poll = null;
    this.timer = null;
    if (state) this.resume(state);
    else this.thaw();
  }

  /** Takes up a predecessor's connection where it was. */
  private resume(state: ConnectionState): void {
    if (state.reader) {
      this.reqLen = -1;
      this.reader = this.host.resumeReader(this, state.reader);
      this.events = 0;
      this.watch(native.POLL_READABLE);
      this.reader.pump();
      return;
    }
    if (state.closing !== undefined) {
      this.reqLen = -1;
      this.closingText = Buffer.from(state.closing, 'base64');
      this.events = 0;
      if (this.closingText.length > 0) return this.flushFinal();
      this.watch(native.POLL_READABLE);
      this.timer = setTimeout(() => this.close(), LINGER_MS);
      return;
    }
    const req = Buffer.from(state.request ?? '', 'base64');
    if (req.length > this.inbuf.length) this.inbuf = Buffer.allocUnsafe(Math.min(MAX_REQUEST_BYTES, req.length * 2));
    req.copy(this.inbuf);
    this.reqLen = req.length;
    this.thaw();
  }

  /** Stops reading and writing for a moment (a graceful restart in progress); thaw() goes on. */
  freeze(): void {
    if (this.closed) return;
    if (this.poll) native.pollStop(this.poll);
    this.poll = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  thaw(): void {
    if (this.closed) return;
    this.poll = native.pollStart(this.fd, this.events || native.POLL_READABLE, (status, ev) => this.ready(status, ev));
    if (this.reqLen >= 0 && !this.reader) {
      this.timer = setTimeout(() => {
        this.host.log('query client sent no request in time; disconnected');
        this.close();
      }, this.host.handshakeTimeoutMs);
    } else if (this.closingText?.length === 0) this.timer = setTimeout(() => this.close(), LINGER_MS);
  }

  /** Where this connection is, for a successor (after freeze()). */
  exportState(): ConnectionState {
    const st: ConnectionState = { pid: this.pid, uid: this.uid };
    if (this.reader) st.reader = this.reader.exportState();
    else if (this.closingText) st.closing = this.closingText.toString('base64');
    else st.request = this.inbuf.subarray(0, Math.max(0, this.reqLen)).toString('base64');
    return st;
  }

  /** The successor has it: let go of everything without closing the socket's other copy (ours closes). */
  handedOver(): void {
    this.freeze();
    this.closed = true;
    this.reader?.stop();
    native.close(this.fd);
  }

  private ready(status: number, ev: number): void {
    if (this.closed) return;
    if (status < 0) return this.close();
    if (ev & native.POLL_READABLE) this.readSome();
    if (!this.closed && ev & native.POLL_WRITABLE) {
      if (this.closingText?.length) this.flushFinal();
      else this.reader?.pump();
    }
  }

  private readSome(): void {
    for (;;) {
      // A request can finish the connection synchronously (an empty dump): never touch the fd after.
      if (this.closed) return;
      if (this.reqLen >= 0 && this.reqLen === this.inbuf.length) {
        if (this.inbuf.length >= MAX_REQUEST_BYTES) return this.refuse('ERR_REQUEST_TOO_LARGE', `request line longer than ${MAX_REQUEST_BYTES} bytes`);
        const bigger = Buffer.allocUnsafe(Math.min(MAX_REQUEST_BYTES, this.inbuf.length * 4));
        this.inbuf.copy(bigger, 0, 0, this.reqLen);
        this.inbuf = bigger;
      }
      const into = this.reqLen >= 0 ? this.inbuf.subarray(this.reqLen) : this.inbuf;
      let r: native.RecvResult | null;
      try {
        r = native.recvmsg(this.fd, into);
      } catch {
        return this.close(); // ECONNRESET and the like
      }
      if (r === null) return;
      if (r.bytes === 0) {
        // The client shut down its sending side. Before a request that is a hang-up; after it,
        // a dump is still delivered (`printf '\0' | socat - UNIX:...`); after a final record
        // it is the end.
        if ((this.reqLen >= 0 && !this.closingText) || this.closingText?.length === 0) return this.close();
        this.watch(this.events & ~native.POLL_READABLE);
        return;
      }
      if (this.reqLen < 0) continue; // anything after the request is read and ignored
      const before = this.reqLen;
      this.reqLen += r.bytes;
      if (this.inbuf[0] !== V2_REQUEST_BYTE) {
        this.answered();
        if (!this.host.allowed(this)) return this.close();
        const f = this.host.requestV1(this, this.inbuf[0]);
        if (!f) return this.close();
        this.start(f);
        continue;
      }
      const nl = this.inbuf.indexOf(0x0a, before);
      if (nl < 0 || nl >= this.reqLen) continue; // the line is not complete yet
      this.answered();
      if (!this.host.allowed(this)) return this.refuse('ERR_ACCESS_DENIED', `uid ${this.uid} may not query this memlogd`);
      let res: Reader | string;
      try {
        res = this.host.requestV2(this, this.inbuf.toString('utf8', 0, nl));
      } catch (err) {
        if (err instanceof ProtocolError) return this.refuse(err.code, err.message);
        throw err;
      }
      if (typeof res === 'string') return this.finalText(res);
      this.start(res);
    }
  }

  /** The request is complete: stop the handshake timer, ignore further input. */
  private answered(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.reqLen = -1;
  }

  private start(r: Reader): void {
    this.reader = r;
    r.pump();
  }

  private refuse(code: string, message: string): void {
    this.answered();
    this.host.log(`query client pid ${this.pid} uid ${this.uid} refused: ${code}: ${message}`);
    this.finalText(encodeError(code, message) + '\n');
  }

  /** Sends a last record (stats, error) and closes. */
  private finalText(text: string): void {
    this.closingText = Buffer.from(text);
    this.flushFinal();
  }

  private flushFinal(): void {
    const t = this.closingText!;
    let n: number | null;
    try {
      n = native.sendmsg(this.fd, t);
    } catch {
      return this.close();
    }
    if (n !== t.length) {
      this.closingText = t.subarray(n ?? 0);
      this.watch(this.events | native.POLL_WRITABLE);
      return;
    }
    // Sent. End our side (the client sees EOF after the record) and read whatever it still
    // sends until it hangs up: closing with unread input would reset the connection and could
    // destroy the record before the client reads it.
    this.closingText = Buffer.alloc(0);
    try {
      native.shutdown(this.fd, native.SHUT_WR);
    } catch {
      return this.close();
    }
    this.watch(native.POLL_READABLE);
    this.timer = setTimeout(() => this.close(), LINGER_MS);
  }

  private watch(events: number): void {
    if (this.closed || events === this.events) return;
    this.events = events;
    if (events === 0) {
      if (this.poll) native.pollStop(this.poll);
      this.poll = null;
    } else if (this.poll) native.pollModify(this.poll, events);
    else this.poll = native.pollStart(this.fd, events, (status, ev) => this.ready(status, ev));
  }

  // --- Sink ---

  write(buf: Buffer, from: number, to: number): number | null {
    return native.sendmsg(this.fd, buf.subarray(from, to));
  }

  wantWritable(on: boolean): void {
    this.watch(on ? this.events | native.POLL_WRITABLE : this.events & ~native.POLL_WRITABLE);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.poll) native.pollStop(this.poll);
    this.poll = null;
    this.reader?.stop();
    native.close(this.fd);
    this.host.forget(this);
  }
}
