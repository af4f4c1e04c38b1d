// The query socket: AF_UNIX SOCK_STREAM. A client sends a request (a v1 mode byte or a v2 JSON
// line, see connection.ts) and receives NDJSON from its Reader.
//
// Connections are accepted and written natively (accept4 + non-blocking send, readiness by
// uv_poll) rather than through net.Socket. The reason is throughput under load: Node queues a
// write that the kernel could not take in full and retries it only on the next event-loop
// turn, while libuv may read up to 32 x 64 KiB from each busy pipe in one turn; a follower
// then gets one socket buffer per turn and falls hopelessly behind. Here every follower is
// offered more after every ingested chunk, the moment its socket has room.

import * as native from '../native/index.js';
import { DAEMON_DEFAULTS, MODE_DUMP, MODE_DUMP_FOLLOW, MODE_FOLLOW, V1_MODE_NAMES } from '../protocol/constants.js';
import { parseCursor } from '../protocol/cursor.js';
import { ProtocolError } from '../protocol/errors.js';
import type { DaemonStats, StatsRecord } from '../protocol/stats.js';
import { parseTime } from '../protocol/time.js';
import { encodeGap, encodeStart, encodeStats, parseRequest, type BySourceList, type QueryRequest } from '../protocol/v2.js';
import { Connection, type ConnectionHost, type ConnectionState } from './connection.js';
import { UNKNOWN_SOURCE } from './drops.js';
import { Filter } from './filter.js';
import { outOfFds } from './fds.js';
import { NameCache } from './names.js';
import { Reader, type ReaderOptions, type ReaderState } from './reader.js';
import type { Retention, Store } from './store.js';

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
  /**
   * Records one of memlogd's own events (source memlogd). With a kind, it is a note about `who`
   * (a client, the query socket), rate-limited per kind and who.
   */
  log: (msg: string, kind?: string, who?: string) => void;
  /** Current time for gap records. */
  now: () => [number, number];
  handshakeTimeoutMs?: number;
  /** This daemon start's id (cursors are `<instance>:<seq>`). */
  instance: string;
  /** Peer uids allowed to query (SO_PEERCRED); undefined: anyone who can open the socket. */
  allowUids?: ReadonlySet<number>;
  /** The stats record's daemon-wide part (store, sources). */
  stats: () => DaemonStats;
}

export class QueryServer implements ConnectionHost, Retention {
  readonly readers = new Set<Reader>();
  private readonly conns = new Set<Connection>();
  private readonly names: NameCache;
  private listenFd = -1;
  private listenPoll: native.PollHandle | null = null;
  private closed = false;

  readonly handshakeTimeoutMs: number;

  constructor(readonly store: Store, readonly opts: QueryServerOptions) {
    this.names = new NameCache(store);
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? DAEMON_DEFAULTS.handshakeTimeoutMs;
    store.setRetention(this);
  }

  /** Entries evicted while a follower was behind stay readable for it until memory is needed. */
  retainFrom(): number {
    let min = Infinity;
    for (const r of this.readers) if (r.untilSeq === Infinity) min = Math.min(min, Math.max(r.nextSeq, r.joinSeq));
    return min;
  }

  /** Where readers may ask whose dropped entries were from or up to (the drop log stays exact there). */
  cuts(): number[] {
    const at: number[] = [];
    for (const r of this.readers) at.push(r.nextSeq, r.joinSeq, r.untilSeq);
    return at;
  }

  /** Whose the entries before the oldest held were (all evicted); undefined if not known. */
  private evictedBefore(oldest: number): BySourceList | undefined {
    const counts = new Map<number, number>();
    let known = 0;
    this.store.evictedBefore(oldest, (src, n) => {
      if (src !== UNKNOWN_SOURCE) {
        counts.set(src, (counts.get(src) ?? 0) + n);
        known += n;
      }
    });
    // all of them, or it is not said (part forgotten, or dropped by a predecessor without a log)
    return known === oldest ? this.names.bySource(counts) : undefined;
  }

  log(msg: string, kind?: string, who?: string): void {
    this.opts.log(msg, kind, who);
  }

  /** Serves on an already bound and listening socket fd (owned from now on). */
  listen(fd: number): void {
    this.listenFd = fd;
    native.setNonBlocking(fd, true);
    this.watchListen();
  }

  /** Accepts connections as they come on the listening socket. */
  private watchListen(): void {
    this.listenPoll = native.pollStart(this.listenFd, native.POLL_READABLE, () => this.acceptSome());
  }

  /** Lets every reader send what has arrived; called after each ingested chunk. */
  notify(): void {
    for (const r of this.readers) r.pump();
  }

  private acceptSome(): void {
    for (let i = 0; i < ACCEPT_PER_WAKEUP && !this.closed; i++) {
      let fd: number | null;
      try {
        fd = native.accept(this.listenFd);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (outOfFds(err)) this.backOff(code!);
        else if (code !== 'ECONNABORTED' && code !== 'EINTR') this.opts.log(`query socket accept failed: ${code}`, 'accept-failed', 'query socket');
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
    this.opts.log(`query socket: out of file descriptors (${code}); not accepting for ${EMFILE_BACKOFF_MS} ms`, 'out-of-fds', 'query socket');
    if (this.listenPoll) native.pollStop(this.listenPoll);
    this.listenPoll = null;
    setTimeout(() => {
      if (!this.closed) this.watchListen();
    }, EMFILE_BACKOFF_MS).unref();
  }

  /** A v1 mode byte arrived: start its reader, or refuse it (null: close the connection). */
  requestV1(conn: Connection, mode: number): Reader | null {
    const st = this.store;
    let from: number;
    let until: number;
    switch (mode) {
      case MODE_DUMP: from = st.oldestSeq; until = st.nextSeq; break;
      case MODE_FOLLOW: from = st.nextSeq; until = Infinity; break;
      case MODE_DUMP_FOLLOW: from = st.oldestSeq; until = Infinity; break;
      default:
        this.opts.log(`query client ${conn.who()} sent unknown mode byte ${mode}; disconnected`, 'query-unknown-mode', conn.who());
        return null;
    }
    return this.follow(conn, { fromSeq: from, untilSeq: until, mode: V1_MODE_NAMES[mode] });
  }

  /**
   * A v2 request line arrived. Returns the reader, or the text to send before closing (stats,
   * or an error record). Throws ProtocolError for a bad request.
   */
  requestV2(conn: Connection, line: string): Reader | string {
    const r = parseRequest(line);
    if (r.mode === 'stats') return encodeStats(this.statsRecord()) + '\n';
    const st = this.store;
    const filter = Filter.of(r);
    // whose the entries before the oldest were: a client can tell whose history it never saw
    const evicted = this.evictedBefore(st.oldestSeq);
    let preamble = encodeStart(this.opts.instance, st.oldestSeq, st.nextSeq, evicted) + '\n';
    let from = r.mode === 'follow' ? st.nextSeq : st.oldestSeq;
    if (r.tail !== undefined) from = Math.max(st.oldestSeq, this.tailStart(r.tail, filter));
    if (r.after !== undefined) {
      const c = parseCursor(r.after)!;
      if (c.instance === this.opts.instance) from = Math.min(c.seq + 1, st.nextSeq);
      else {
        // memlogd restarted since that cursor: what this instance already evicted is gone too
        const oldest = st.oldestSeq;
        // [0, oldest) of this instance is gone too; an empty range (to = -1) when nothing is
        preamble += encodeGap({ from: 0, to: oldest - 1, count: oldest, reason: 'restarted', previous: r.after, sources: evicted }) + '\n';
        from = oldest;
      }
    }
    const f = this.follow(conn, {
      fromSeq: from, untilSeq: r.mode === 'dump' ? st.nextSeq : Infinity, v2: true, filter, preamble, mode: r.mode, request: r,
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
      if (st.isDead(p)) continue;
      const hit = filter === null || filter.matches(st, p);
      if (filter?.exhausted) throw new ProtocolError('ERR_QUERY_TOO_EXPENSIVE', Filter.EXHAUSTED_MESSAGE);
      if (!hit) continue;
      if (++found === n) return st.seqs[p];
    }
    return st.oldestSeq;
  }

  resumeReader(conn: Connection, s: ReaderState): Reader {
    const r = this.follow(conn, {
      fromSeq: s.nextSeq, untilSeq: s.untilSeq ?? Infinity, v2: s.v2, filter: s.request ? Filter.of(s.request) : null,
      preamble: s.preamble ?? undefined, mode: s.mode, request: s.request, resume: s,
    });
    if (s.untilSeq === null && s.request?.until) this.endAt(r, s.request);
    return r;
  }

  /** Stops every read and write for a moment (a graceful restart in progress). */
  freeze(): void {
    if (this.listenPoll) native.pollStop(this.listenPoll);
    this.listenPoll = null;
    for (const c of this.conns) c.freeze();
  }

  thaw(): void {
    if (!this.closed && !this.listenPoll && this.listenFd >= 0) this.watchListen();
    for (const c of this.conns) c.thaw();
  }

  /** Every connection (after freeze()): its state and the fd the successor gets. */
  exportConnections(): Array<{ fd: number; state: ConnectionState }> {
    return [...this.conns].map((c) => ({ fd: c.fd, state: c.exportState() }));
  }

  /** Connections a predecessor handed over, continued where they were. */
  adoptConnections(list: Array<{ fd: number; state: ConnectionState }>): void {
    for (const { fd, state } of list) {
      native.setNonBlocking(fd, true);
      this.conns.add(new Connection(fd, this, state));
    }
  }

  /** The successor serves now: let go of every connection and the listening socket (our copies). */
  handedOver(): void {
    this.closed = true;
    if (this.listenPoll) native.pollStop(this.listenPoll);
    this.listenPoll = null;
    for (const c of [...this.conns]) c.handedOver();
    this.conns.clear();
    this.readers.clear();
    if (this.listenFd >= 0) native.close(this.listenFd);
    this.listenFd = -1;
  }

  /** A follower with `until`: once the clock passes it, finish like a dump. */
  private endAt(f: Reader, r: QueryRequest): void {
    const [sec, nsec] = parseTime(r.until!)!;
    const ms = sec * 1000 + nsec / 1e6 - Date.now();
    // setTimeout's limit is 2^31-1 ms (~24.8 days); a later until just never fires.
    if (ms < 2 ** 31) setTimeout(() => f.endNow(), Math.max(0, ms)).unref();
  }

  private follow(conn: Connection, o: Omit<ReaderOptions, 'now'>): Reader {
    const r = new Reader(this.store, this.names, conn, {
      ...o, now: this.opts.now, pid: conn.pid, uid: conn.uid, log: (m) => this.opts.log(m, 'query-too-expensive', conn.who()),
    });
    this.readers.add(r);
    return r;
  }

  /** Is this peer allowed to query? Logs the refusal. */
  allowed(conn: Connection): boolean {
    const allow = this.opts.allowUids;
    if (!allow || allow.has(conn.uid)) return true;
    this.opts.log(`refused query client pid ${conn.pid} uid ${conn.uid}: not in --allow-query-uid`, 'query-not-allowed', conn.who());
    return false;
  }

  private statsRecord(): Omit<StatsRecord, 'type'> {
    return { ...this.opts.stats(), readers: [...this.readers].map((r) => r.describe()) };
  }

  forget(conn: Connection): void {
    this.conns.delete(conn);
    if (conn.reader) this.readers.delete(conn.reader);
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

