// The query socket: AF_UNIX SOCK_STREAM. A client sends one mode byte (v1) and receives NDJSON.
//
// Fixes from the reference: a client that connects and says nothing delays nobody (every
// connection is independent) and is dropped after HANDSHAKE_TIMEOUT_MS; an unknown mode byte
// gets the connection closed instead of leaked.

import net from 'node:net';
import { MODE_DUMP, MODE_DUMP_FOLLOW, MODE_FOLLOW } from './protocol.js';
import { Follower, NameCache } from './follower.js';
import type { Store } from './store.js';

/** A silent client is disconnected after this long (the reference waits forever). */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

export interface QueryServerOptions {
  /** Records one of memlogd's own events (source memlogd). */
  log: (msg: string) => void;
  /** Current time for gap records. */
  now: () => [number, number];
  handshakeTimeoutMs?: number;
}

export class QueryServer {
  readonly followers = new Set<Follower>();
  private readonly pending = new Set<net.Socket>();
  private readonly server: net.Server;
  private readonly names: NameCache;

  constructor(private readonly store: Store, private readonly opts: QueryServerOptions) {
    this.names = new NameCache(store);
    // allowHalfOpen: a client may shut down its sending side right after the mode byte
    // (`printf '\0' | socat`) and must still receive the whole dump.
    this.server = net.createServer({ allowHalfOpen: true }, (sock) => this.accept(sock));
    this.server.on('error', (err) => opts.log(`query socket error: ${err.message}`));
    // Entries evicted while a follower was behind stay readable for it until memory is needed.
    store.retainFrom = () => {
      let min = Infinity;
      for (const f of this.followers) if (f.untilSeq === Infinity) min = Math.min(min, Math.max(f.nextSeq, f.joinSeq));
      return min;
    };
  }

  /** Serves on an already bound and listening socket fd. */
  listen(fd: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ fd }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** Lets every reader send what has arrived; called after each ingested chunk. */
  notify(): void {
    for (const f of this.followers) f.pump();
  }

  private accept(sock: net.Socket): void {
    this.pending.add(sock);
    sock.on('error', () => sock.destroy());
    sock.setTimeout(this.opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS, () => {
      this.opts.log('query client sent no request in time; disconnected');
      sock.destroy();
    });
    sock.once('close', () => this.pending.delete(sock));
    // Hung up without a request (half-open sockets are allowed, so close it ourselves).
    sock.once('end', () => {
      if (this.pending.has(sock)) sock.destroy();
    });
    sock.once('data', (data: Buffer) => {
      sock.setTimeout(0);
      this.pending.delete(sock);
      // Anything after the request is ignored, but still read so a close is noticed.
      sock.on('data', () => {});
      this.request(sock, data[0]);
    });
  }

  private request(sock: net.Socket, mode: number): void {
    const st = this.store;
    let from: number;
    let until: number;
    switch (mode) {
      case MODE_DUMP: from = st.oldestSeq; until = st.nextSeq; break;
      case MODE_FOLLOW: from = st.nextSeq; until = Infinity; break;
      case MODE_DUMP_FOLLOW: from = st.oldestSeq; until = Infinity; break;
      default:
        this.opts.log(`query client sent unknown mode byte ${mode}; disconnected`);
        sock.destroy();
        return;
    }
    const f = new Follower(st, this.names, sock, {
      fromSeq: from,
      untilSeq: until,
      now: this.opts.now,
      onDone: (done) => this.followers.delete(done),
    });
    this.followers.add(f);
    f.pump();
  }

  /** Stops accepting, ends every connection. */
  close(): Promise<void> {
    for (const s of this.pending) s.destroy();
    for (const f of this.followers) f.socket.destroy();
    this.followers.clear();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
