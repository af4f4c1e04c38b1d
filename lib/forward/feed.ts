// One destination's connection to memlogd: a v2 dump+follow after the destination's cursor, with
// its filters applied by the daemon (sources, exclude, stream). It runs only while the
// destination's server takes messages, pauses when the destination's queue is full (socket
// backpressure: memlogd keeps what we do not read, and reports a gap if it cannot), and
// reconnects with backoff when memlogd goes away.

import type net from 'node:net';
import { Backoff, sleep } from '../client/backoff.js';
import { connectQuery, readLines } from '../client/query.js';
import { encodeRequest, type QueryRequest } from '../protocol/v2.js';

export interface FeedOptions {
  socket: string;
  /** The filters of the request (everything but mode and after): sources, exclude, stream, priority. */
  filters: Omit<QueryRequest, 'mode' | 'after'>;
  backoffMinMs: number;
  backoffMaxMs: number;
  /** The cursor to read after, asked at every (re)connection; null: everything memlogd holds. */
  after: () => string | null;
  /** A new connection is about to deliver its answer (its start record first). */
  connected: (requestedAfter: boolean) => void;
  lines: (lines: string[]) => void;
  /** A state change worth one line. */
  say: (msg: string) => void;
}

export class Feed {
  private sock: net.Socket | null = null;
  private running = false;
  private paused = false;
  /** The current connection was closed by drop(). */
  private dropped = false;
  private loopDone: Promise<void> = Promise.resolve();
  /** Aborted by stop(): cuts a wait short. */
  private stopping = new AbortController();
  private readonly backoff: Backoff;

  constructor(private readonly o: FeedOptions) {
    this.backoff = new Backoff(o.backoffMinMs, o.backoffMaxMs);
  }

  /** Starts reading (no-op when running). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.paused = false;
    this.stopping = new AbortController();
    this.loopDone = this.loop();
  }

  /** Stops reading; resolves once no more lines will be delivered. */
  async stop(): Promise<void> {
    this.running = false;
    this.sock?.destroy();
    this.stopping.abort();
    await this.loopDone;
  }

  /** Closes the current connection (a problem the caller said already); the loop reconnects after a wait. */
  drop(): void {
    this.dropped = true;
    this.sock?.destroy();
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.sock?.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.sock?.resume();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const after = this.o.after();
      const req: QueryRequest = { mode: 'dump+follow', ...this.o.filters };
      if (after) req.after = after;
      let sock: net.Socket;
      try {
        sock = await connectQuery(this.o.socket, encodeRequest(req));
      } catch (err) {
        if (!this.running) break;
        const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
        this.o.say(`memlogd is not reachable at ${this.o.socket} (${cause?.code ?? (err as Error).message}); waiting for it`);
        await sleep(this.backoff.next(), this.stopping.signal);
        continue;
      }
      if (!this.running) {
        sock.destroy();
        break;
      }
      this.sock = sock;
      this.dropped = false;
      if (this.paused) sock.pause();
      this.o.connected(after !== null);
      let first = true;
      let why = 'memlogd closed the connection';
      try {
        await readLines(sock, (lines) => {
          if (first) {
            first = false;
            this.backoff.reset();
          }
          this.o.lines(lines);
        }, true);
      } catch (err) {
        why = (err as Error).message;
      }
      sock.destroy();
      this.sock = null;
      if (!this.running) break;
      if (!this.dropped) this.o.say(`lost the connection to memlogd (${why}); reconnecting`);
      await sleep(this.backoff.next(), this.stopping.signal);
    }
  }
}
