// memlogd: the store, the logging socket (fds in), the query socket (NDJSON out), wired.

import { WallClock } from './clock.js';
import { splitMessage } from './framing.js';
import { Input, refusal, type InputContext } from './input.js';
import { LogSocket, type Datagram } from './log-socket.js';
import * as native from './native.js';
import { DEFAULT_LOG_SOCKET, DEFAULT_QUERY_SOCKET, MAX_NAME_LEN, SELF_SOURCE } from './protocol.js';
import { QueryServer } from './query-server.js';
import { adoptSocket, bindSocket, unlinkIfOurs, type BoundSocket } from './socket-file.js';
import { Store } from './store.js';

export interface DaemonOptions {
  socketLog: string;
  socketQuery: string;
  /** Inherited, already bound logging socket (reference -fd-log); replaces socketLog. */
  fdLog?: number;
  /** Inherited, already listening query socket (reference -fd-query); replaces socketQuery. */
  fdQuery?: number;
  maxLines: number;
  maxLineLen: number;
  maxBytes: number;
  handshakeTimeoutMs?: number;
}

export const DEFAULTS: DaemonOptions = {
  socketLog: DEFAULT_LOG_SOCKET,
  socketQuery: DEFAULT_QUERY_SOCKET,
  maxLines: 5000, // reference default
  maxLineLen: 1024, // reference default
  // Reference worst case is 5000 lines x 1024 bytes = 5 MiB; 8 MiB keeps that plus continuation
  // pieces of long lines, and stays far below the 80 MB RSS budget.
  maxBytes: 8 * 1024 * 1024,
};

export class Daemon {
  readonly store: Store;
  readonly clock = new WallClock();
  readonly inputs = new Set<Input>();
  private readonly selfId: number;
  private readonly query: QueryServer;
  private logSocket?: LogSocket;
  private bound: BoundSocket[] = [];
  private notifyScheduled = false;
  private closing?: Promise<void>;
  private readonly ctx: InputContext;
  readonly startedAt = Date.now();

  private constructor(readonly opts: DaemonOptions) {
    if (opts.maxLineLen > opts.maxBytes) {
      throw Object.assign(new RangeError(`max-line-len (${opts.maxLineLen}) cannot exceed max-bytes (${opts.maxBytes})`), { code: 'ERR_OUT_OF_RANGE' });
    }
    this.store = new Store({ maxLines: opts.maxLines, maxBytes: opts.maxBytes });
    this.selfId = this.store.source(Buffer.from(SELF_SOURCE));
    const now = (): [number, number] => {
      this.clock.now();
      return [this.clock.sec, this.clock.nsec];
    };
    this.query = new QueryServer(this.store, { log: (m) => this.log(m), now, handshakeTimeoutMs: opts.handshakeTimeoutMs });
    this.ctx = {
      store: this.store,
      clock: this.clock,
      maxLineLen: opts.maxLineLen,
      onIngest: () => this.query.notify(),
      log: (m) => this.log(m),
    };
  }

  /** Binds (or adopts) both sockets and starts serving. Rejects with a coded error. */
  static async start(options: Partial<DaemonOptions> = {}): Promise<Daemon> {
    const d = new Daemon({ ...DEFAULTS, ...options });
    try {
      await d.listen();
    } catch (err) {
      await d.close();
      throw err;
    }
    return d;
  }

  private async listen(): Promise<void> {
    const o = this.opts;
    this.log('memlogd started');
    const log = o.fdLog !== undefined ? adoptSocket(o.fdLog) : bindSocket('dgram', o.socketLog);
    this.bound.push(log);
    this.logSocket = new LogSocket(log.fd, (d) => this.datagram(d), (err) => this.log(`logging socket error: ${err.message}`));
    this.logSocket.start();
    const query = o.fdQuery !== undefined ? adoptSocket(o.fdQuery) : bindSocket('stream', o.socketQuery);
    this.bound.push(query);
    try {
      await this.query.listen(query.fd);
    } catch (err) {
      closeAll([query.fd]); // the server never took it over
      throw err;
    }
  }

  /** Records one of memlogd's own events under source memlogd. */
  log(msg: string): void {
    this.clock.now();
    const { sec, nsec } = this.clock;
    splitMessage(Buffer.from(msg), this.opts.maxLineLen, (b, s, e, f) => this.store.append(this.selfId, b, s, e, sec, nsec, f));
    if (!this.notifyScheduled) {
      this.notifyScheduled = true;
      setImmediate(() => {
        this.notifyScheduled = false;
        this.query.notify();
      });
    }
  }

  private datagram(d: Datagram): void {
    const label = JSON.stringify(d.name.toString());
    if (d.nameLength > MAX_NAME_LEN) {
      closeAll(d.fds);
      this.log(`refused datagram from pid ${d.pid}: name of ${d.nameLength} bytes is longer than ${MAX_NAME_LEN}`);
      return;
    }
    if (d.fdsTruncated) this.log(`datagram for source ${label} had more fds than fit; the kernel dropped the rest`);
    if (d.fds.length === 0) {
      this.log(`datagram for source ${label} carried no fds; nothing to read`);
      return;
    }
    if (this.closing) {
      closeAll(d.fds);
      return;
    }
    const src = this.store.source(d.name);
    for (const fd of d.fds) {
      const why = refusal(fd);
      if (why !== null) {
        closeAll([fd]);
        this.log(`refused fd for source ${label}: ${why}`);
        continue;
      }
      try {
        this.inputs.add(new Input(fd, src, this.ctx, (i) => this.inputs.delete(i)));
      } catch (err) {
        closeAll([fd]);
        this.log(`refused fd for source ${label}: ${(err as Error).message}`);
      }
    }
  }

  /** Number of connected query clients that are reading. */
  get readers(): number {
    return this.query.followers.size;
  }

  /** Stops accepting, closes every fd, unlinks both socket files. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.logSocket?.close();
      for (const i of [...this.inputs]) i.close();
      await this.query.close();
      for (const b of this.bound) unlinkIfOurs(b);
    })();
    return this.closing;
  }
}

function closeAll(fds: number[]): void {
  for (const fd of fds) {
    try {
      native.close(fd);
    } catch {
      // already closed
    }
  }
}
