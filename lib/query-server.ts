// The query socket: AF_UNIX SOCK_STREAM. A client sends one mode byte (v1) and receives NDJSON.
//
// Connections are accepted and written natively (accept4 + non-blocking send, readiness by
// uv_poll) rather than through net.Socket. The reason is throughput under load: Node queues a
// write that the kernel could not take in full and retries it only on the next event-loop
// turn, while libuv may read up to 32 x 64 KiB from each busy pipe in one turn; a follower
// then gets one socket buffer per turn and falls hopelessly behind. Here every follower is
// offered more after every ingested chunk, the moment its socket has room.
//
// Fixes from the reference: a client that connects and says nothing delays nobody and is
// dropped after the handshake timeout; an unknown mode byte gets the connection closed.

import { Filter } from './filter.js';
import { Follower, NameCache, type Sink } from './follower.js';
import * as native from './native.js';
import {
  MAX_REQUEST_BYTES, MODE_DUMP, MODE_DUMP_FOLLOW, MODE_FOLLOW, ProtocolError, V2_REQUEST_BYTE, encodeError, encodeGap,
  encodeStart, encodeStats, parseCursor, parseRequest, parseTime, type QueryRequest,
} from './protocol.js';
import { DEAD, type Store } from './store.js';

/** A silent client is disconnected after this long (the reference waits forever). */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Connections accepted per readiness callback before yielding. */
const ACCEPT_PER_WAKEUP = 64;
/**
 * Kernel send buffer asked for each reader. The default (~208 KiB, about 1,400 entries) makes
 * memlogd and a fast reader take turns: memlogd fills it, waits for the reader to drain it,
 * fills it again, ingesting meanwhile; under a burst the reader falls behind for want of
 * pipelining, not of CPU. This is kernel memory, used only while a reader is behind.
 */
const READER_SNDBUF = 2 * 1024 * 1024;
/** After a final record (error, stats), how long to wait for the client to hang up. */
const LINGER_MS = 2000;
/** Pause before accepting again when out of fds (EMFILE), instead of spinning. */
const EMFILE_BACKOFF_MS = 100;

export interface QueryServerOptions {
  /** Records one of memlogd's own events (source memlogd). */
  log: (msg: string) => void;
  /** Current time for gap records. */
  now: () => [number, number];
  handshakeTimeoutMs?: number;
  /** This daemon start's id (cursors are `<instance>:<seq>`). */
  instance: string;
  /** Peer uids allowed to query (SO_PEERCRED); undefined: anyone who can open the socket. */
  allowUids?: ReadonlySet<number>;
  /** The stats record's daemon-wide part (store, sources). */
  stats: () => Record<string, unknown>;
}

export class QueryServer {
  readonly followers = new Set<Follower>();
  private readonly conns = new Set<Connection>();
  private readonly names: NameCache;
  private listenFd = -1;
  private listenPoll: native.PollHandle | null = null;
  private closed = false;

  constructor(readonly store: Store, readonly opts: QueryServerOptions) {
    this.names = new NameCache(store);
    // Entries evicted while a follower was behind stay readable for it until memory is needed.
    store.retainFrom = () => {
      let min = Infinity;
      for (const f of this.followers) if (f.untilSeq === Infinity) min = Math.min(min, Math.max(f.nextSeq, f.joinSeq));
      return min;
    };
  }

  /** Serves on an already bound and listening socket fd (owned from now on). */
  listen(fd: number): void {
    this.listenFd = fd;
    native.setNonBlocking(fd, true);
    this.listenPoll = native.pollStart(fd, native.POLL_READABLE, () => this.acceptSome());
  }

  /** Lets every reader send what has arrived; called after each ingested chunk. */
  notify(): void {
    for (const f of this.followers) f.pump();
  }

  private acceptSome(): void {
    for (let i = 0; i < ACCEPT_PER_WAKEUP && !this.closed; i++) {
      let fd: number | null;
      try {
        fd = native.accept(this.listenFd);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EMFILE' || code === 'ENFILE') this.backOff(code);
        else if (code !== 'ECONNABORTED' && code !== 'EINTR') this.opts.log(`query socket accept failed: ${code}`);
        return;
      }
      if (fd === null) return;
      try {
        native.setSendBuffer(fd, READER_SNDBUF);
      } catch {
        // keep the default buffer: slower for a reader under bursts, nothing more
      }
      this.conns.add(new Connection(fd, this));
    }
  }

  private backOff(code: string): void {
    this.opts.log(`query socket: out of file descriptors (${code}); not accepting for ${EMFILE_BACKOFF_MS} ms`);
    if (this.listenPoll) native.pollStop(this.listenPoll);
    this.listenPoll = null;
    setTimeout(() => {
      if (!this.closed) this.listenPoll = native.pollStart(this.listenFd, native.POLL_READABLE, () => this.acceptSome());
    }, EMFILE_BACKOFF_MS).unref();
  }

  /** A v1 mode byte arrived: start its reader, or refuse it (null: close the connection). */
  requestV1(conn: Connection, mode: number): Follower | null {
    const st = this.store;
    let from: number;
    let until: number;
    switch (mode) {
      case MODE_DUMP: from = st.oldestSeq; until = st.nextSeq; break;
      case MODE_FOLLOW: from = st.nextSeq; until = Infinity; break;
      case MODE_DUMP_FOLLOW: from = st.oldestSeq; until = Infinity; break;
      default:
        this.opts.log(`query client sent unknown mode byte ${mode}; disconnected`);
        return null;
    }
    return this.follow(conn, { fromSeq: from, untilSeq: until, mode: ['dump', 'follow', 'dump+follow'][mode] });
  }

  /**
   * A v2 request line arrived. Returns the reader, or the text to send before closing (stats,
   * or an error record). Throws ProtocolError for a bad request.
   */
  requestV2(conn: Connection, line: string): Follower | string {
    const r = parseRequest(line);
    if (r.mode === 'stats') return encodeStats(this.statsRecord()) + '\n';
    const st = this.store;
    const filter = Filter.of(r);
    let preamble = encodeStart(this.opts.instance, st.oldestSeq, st.nextSeq) + '\n';
    let from = r.mode === 'follow' ? st.nextSeq : st.oldestSeq;
    if (r.tail !== undefined) from = Math.max(st.oldestSeq, this.tailStart(r.tail, filter));
    if (r.after !== undefined) {
      const c = parseCursor(r.after)!;
      if (c.instance === this.opts.instance) from = Math.min(c.seq + 1, st.nextSeq);
      else {
        // memlogd restarted since that cursor: what this instance already evicted is gone too
        const oldest = st.oldestSeq;
        // [0, oldest) of this instance is gone too; an empty range (to = -1) when nothing is
        preamble += encodeGap({ from: 0, to: oldest - 1, count: oldest, reason: 'restarted', previous: r.after }) + '\n';
        from = oldest;
      }
    }
    const f = this.follow(conn, {
      fromSeq: from, untilSeq: r.mode === 'dump' ? st.nextSeq : Infinity, v2: true, filter, preamble, mode: r.mode,
    });
    if (r.mode !== 'dump' && filter?.until) this.endAt(f, r);
    return f;
  }

  /** Sequence number where the last `n` wanted entries held now begin. */
  private tailStart(n: number, filter: Filter | null): number {
    const st = this.store;
    if (n === 0) return st.nextSeq;
    let found = 0;
    for (let p = st.end - 1; p >= st.start; p--) {
      if ((st.flags[p] & DEAD) !== 0 || (filter && !filter.matches(st, p))) continue;
      if (++found === n) return st.seqs[p];
    }
    return st.oldestSeq;
  }

  /** A follower with `until`: once the clock passes it, finish like a dump. */
  private endAt(f: Follower, r: QueryRequest): void {
    const [sec, nsec] = parseTime(r.until!)!;
    const ms = sec * 1000 + nsec / 1e6 - Date.now();
    // setTimeout's limit is 2^31-1 ms (~24.8 days); a later until just never fires.
    if (ms < 2 ** 31) setTimeout(() => f.endNow(), Math.max(0, ms)).unref();
  }

  private follow(conn: Connection, o: Omit<import('./follower.js').FollowerOptions, 'now'>): Follower {
    const f = new Follower(this.store, this.names, conn, { ...o, now: this.opts.now, pid: conn.pid, uid: conn.uid });
    this.followers.add(f);
    return f;
  }

  /** Is this peer allowed to query? Logs the refusal. */
  allowed(conn: Connection): boolean {
    const allow = this.opts.allowUids;
    if (!allow || allow.has(conn.uid)) return true;
    this.opts.log(`refused query client pid ${conn.pid} uid ${conn.uid}: not in --allow-query-uid`);
    return false;
  }

  private statsRecord(): Record<string, unknown> {
    return { ...this.opts.stats(), readers: [...this.followers].map((f) => f.describe()) };
  }

  forget(conn: Connection): void {
    this.conns.delete(conn);
    if (conn.follower) this.followers.delete(conn.follower);
  }

  /** Stops accepting, closes every connection and the listening socket. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.listenPoll) native.pollStop(this.listenPoll);
    if (this.listenFd >= 0) native.close(this.listenFd);
    for (const c of [...this.conns]) c.close();
  }
}

/** One accepted client: reads its request, then is the Sink its Follower writes to. */
class Connection implements Sink {
  follower: Follower | null = null;
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

  constructor(readonly fd: number, private readonly server: QueryServer) {
    try {
      [this.pid, this.uid] = native.peerCred(fd);
    } catch {
      // not knowable (should not happen on AF_UNIX): the allow-list then refuses uid -1
    }
    this.poll = native.pollStart(fd, native.POLL_READABLE, (status, ev) => this.ready(status, ev));
    this.timer = setTimeout(() => {
      server.opts.log('query client sent no request in time; disconnected');
      this.close();
    }, server.opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS);
  }

  private ready(status: number, ev: number): void {
    if (this.closed) return;
    if (status < 0) return this.close();
    if (ev & native.POLL_READABLE) this.readSome();
    if (!this.closed && ev & native.POLL_WRITABLE) {
      if (this.closingText?.length) this.flushFinal();
      else this.follower?.pump();
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
        if (!this.server.allowed(this)) return this.close();
        const f = this.server.requestV1(this, this.inbuf[0]);
        if (!f) return this.close();
        this.start(f);
        continue;
      }
      const nl = this.inbuf.indexOf(0x0a, before);
      if (nl < 0 || nl >= this.reqLen) continue; // the line is not complete yet
      this.answered();
      if (!this.server.allowed(this)) return this.refuse('ERR_ACCESS_DENIED', `uid ${this.uid} may not query this memlogd`);
      let res: Follower | string;
      try {
        res = this.server.requestV2(this, this.inbuf.toString('utf8', 0, nl));
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

  private start(f: Follower): void {
    this.follower = f;
    f.pump();
  }

  private refuse(code: string, message: string): void {
    this.answered();
    this.server.opts.log(`query client pid ${this.pid} uid ${this.uid} refused: ${code}: ${message}`);
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
    this.follower?.stop();
    native.close(this.fd);
    this.server.forget(this);
  }
}
