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

import * as native from './native.js';
import { MODE_DUMP, MODE_DUMP_FOLLOW, MODE_FOLLOW } from './protocol.js';
import { Follower, NameCache, type Sink } from './follower.js';
import type { Store } from './store.js';

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
/** Pause before accepting again when out of fds (EMFILE), instead of spinning. */
const EMFILE_BACKOFF_MS = 100;

export interface QueryServerOptions {
  /** Records one of memlogd's own events (source memlogd). */
  log: (msg: string) => void;
  /** Current time for gap records. */
  now: () => [number, number];
  handshakeTimeoutMs?: number;
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

  /** Connected clients, readers or not. */
  get connections(): number {
    return this.conns.size;
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

  /** A complete request arrived on a connection: start its reader, or refuse it. */
  request(conn: Connection, mode: number): Follower | null {
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
    const f = new Follower(st, this.names, conn, { fromSeq: from, untilSeq: until, now: this.opts.now });
    this.followers.add(f);
    return f;
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
  private poll: native.PollHandle | null;
  private events = native.POLL_READABLE;
  private timer: NodeJS.Timeout | null;
  private readonly inbuf = Buffer.allocUnsafe(512);
  private closed = false;

  constructor(readonly fd: number, private readonly server: QueryServer) {
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
    if (!this.closed && ev & native.POLL_WRITABLE) this.follower?.pump();
  }

  private readSome(): void {
    for (;;) {
      let r: native.RecvResult | null;
      try {
        r = native.recvmsg(this.fd, this.inbuf);
      } catch {
        return this.close(); // ECONNRESET and the like
      }
      if (r === null) return;
      if (r.bytes === 0) {
        // The client shut down its sending side. Before a request that is a hang-up; after it,
        // a dump is still delivered (`printf '\0' | socat - UNIX:...`).
        if (!this.follower) return this.close();
        this.watch(this.events & ~native.POLL_READABLE);
        return;
      }
      if (!this.follower) this.start(this.inbuf[0]);
      // anything after the request is read and ignored
    }
  }

  private start(mode: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const f = this.server.request(this, mode);
    if (!f) return this.close();
    this.follower = f;
    f.pump();
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
