// memlogd: the store, the logging socket (fds in), the query socket (NDJSON out), wired.

import fs from 'node:fs';
import * as native from '../native/index.js';
import {
  DAEMON_DEFAULTS, DEFAULT_LOG_SOCKET_MODE, DEFAULT_QUERY_SOCKET_MODE, MAX_NAME_LEN, SELF_SOURCE,
} from '../protocol/constants.js';
import { OutOfRangeError } from '../protocol/errors.js';
import type { DaemonStats } from '../protocol/stats.js';
import { formatTime, formatTimeSec } from '../protocol/time.js';
import { WallClock } from './clock.js';
import { splitMessage } from './framing.js';
import { atFdLimit, fdUsage, outOfFds, SpareFd } from './fds.js';
import { classify, Input, type InputContext } from './input.js';
import { NoteLimiter } from './notes.js';
import { ReadySet } from './ready-set.js';
import { LogSocket, type Datagram } from './log-socket.js';
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
  /** File modes of the socket files we create (not of inherited ones). */
  socketLogMode?: number;
  socketQueryMode?: number;
  /** Group (gid) given to both socket files, so its members can use them per the modes. */
  socketGroup?: number;
  /** Uids allowed to hand over fds / to query (peer credentials). Default: root and our own uid. */
  allowLogUids?: number[];
  allowQueryUids?: number[];
}

/** Root and the daemon's own uid: the default allow-list of both sockets. */
export function defaultAllowedUids(): number[] {
  const me = process.getuid?.() ?? 0;
  return me === 0 ? [0] : [0, me];
}

/**
 * Distinct source names memlogd will track. Names are kept for the daemon's lifetime (entries,
 * stats and readers refer to them by id), so a sender inventing endless names must hit a bound.
 */
export const MAX_SOURCES = 65536;

/** The reserved source name, as it arrives in a datagram. */
const SELF_NAME = Buffer.from(SELF_SOURCE);

/** memlogd's defaults (lib/protocol/constants.ts owns them). */
export const DEFAULTS: DaemonOptions = DAEMON_DEFAULTS;

/** Who hands over a source's fds: per source id, kept by the daemon beside the store. */
interface SourceOwner {
  /** Who last handed over an fd for this name (SCM_CREDENTIALS; -1 unknown). */
  pid: number;
  uid: number;
  /** Fds of this source being read now. */
  fds: number;
}

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
  /** This start's identity: cursors from another instance mean memlogd restarted. */
  readonly instance = randomHex(8);
  private readonly allowLog: ReadonlySet<number>;
  private readonly owners: SourceOwner[] = [];
  /** memlogd's notes about senders and clients, rate-limited (the daemon's own events are not). */
  private readonly notes = new NoteLimiter((m) => this.log(m));
  /** Set while memlogd is out of fds: hand-offs that lost fds meanwhile. */
  private fdShortage: { handoffs: number; sources: Set<string> } | null = null;

  private constructor(readonly opts: DaemonOptions) {
    if (opts.maxLineLen > opts.maxBytes) {
      throw new OutOfRangeError(`max-line-len (${opts.maxLineLen}) cannot exceed max-bytes (${opts.maxBytes})`);
    }
    this.store = new Store({ maxLines: opts.maxLines, maxBytes: opts.maxBytes });
    this.selfId = this.store.source(Buffer.from(SELF_SOURCE));
    const now = (): [number, number] => {
      this.clock.now();
      return [this.clock.sec, this.clock.nsec];
    };
    this.allowLog = new Set(opts.allowLogUids ?? defaultAllowedUids());
    this.query = new QueryServer(this.store, {
      log: (m, kind, who) => (kind === undefined ? this.log(m) : this.note(kind, who ?? '', m)), now,
      handshakeTimeoutMs: opts.handshakeTimeoutMs, instance: this.instance,
      allowUids: new Set(opts.allowQueryUids ?? defaultAllowedUids()), stats: () => this.stats(),
    });
    this.ctx = {
      store: this.store,
      clock: this.clock,
      maxLineLen: opts.maxLineLen,
      onIngest: () => this.query.notify(),
      note: (kind, source, m) => this.note(kind, source, m),
      spare: new SpareFd(),
      ready: new ReadySet((err) => this.log(`reading inputs: ${err.message}`)),
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
    this.ctx.spare.refill();
    const log = o.fdLog !== undefined
      ? adoptSocket('dgram', o.fdLog)
      : bindSocket('dgram', o.socketLog, o.socketLogMode ?? DEFAULT_LOG_SOCKET_MODE, o.socketGroup);
    this.bound.push(log);
    this.logSocket = new LogSocket(log.fd, (d) => this.datagram(d), (err) => this.log(`logging socket error: ${err.message}`));
    this.logSocket.start();
    const query = o.fdQuery !== undefined
      ? adoptSocket('stream', o.fdQuery)
      : bindSocket('stream', o.socketQuery, o.socketQueryMode ?? DEFAULT_QUERY_SOCKET_MODE, o.socketGroup);
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

  /** A note about a sender (`who`), rate-limited per kind and sender (notes.ts). */
  private note(kind: string, who: string, msg: string): void {
    this.notes.note(kind, who, msg);
  }

  private datagram(d: Datagram): void {
    const label = JSON.stringify(d.name.toString());
    const who = `pid ${d.pid} uid ${d.uid}`;
    if (d.nameLength > MAX_NAME_LEN) {
      closeAll(d.fds);
      this.note('name-too-long', who, `refused datagram from ${who}: name of ${d.nameLength} bytes is longer than ${MAX_NAME_LEN}`);
      return;
    }
    if (d.fdsTruncated) this.truncated(d, label, who);
    else if (this.fdShortage) this.fdsRecovered();
    if (d.fds.length === 0) {
      if (!d.fdsTruncated) this.note('no-fds', who, `datagram for source ${label} from ${who} carried no fds; nothing to read`);
      return;
    }
    if (this.closing) {
      closeAll(d.fds);
      return;
    }
    if (!this.allowLog.has(d.uid)) {
      closeAll(d.fds);
      this.note('not-allowed', who, `refused ${d.fds.length} fd(s) for source ${label} from ${who}: not in --allow-log-uid`);
      return;
    }
    if (d.name.equals(SELF_NAME)) {
      closeAll(d.fds);
      this.note('reserved-name', who, `refused ${d.fds.length} fd(s) for source ${label} from ${who}: the name is reserved ` +
        'for memlogd\'s own notes');
      return;
    }
    if (this.store.sources.length >= MAX_SOURCES && !this.store.hasSource(d.name)) {
      closeAll(d.fds);
      this.note('too-many-sources', who, `refused fd(s) for new source ${label} from ${who}: already tracking ${MAX_SOURCES} sources`);
      return;
    }
    const src = this.store.source(d.name);
    const info = this.owner(src);
    info.pid = d.pid;
    info.uid = d.uid;
    for (const fd of d.fds) {
      const kind = classify(fd);
      if (typeof kind === 'object') {
        closeAll([fd]);
        this.note('bad-fd', who, `refused fd for source ${label} from ${who}: ${kind.refused}`);
        continue;
      }
      try {
        this.inputs.add(new Input(fd, kind, src, this.ctx, this.inputClosed));
        info.fds++;
      } catch (err) {
        closeAll([fd]);
        if (outOfFds(err)) this.lostToFdLimit(label, who, `could not reopen its pipe (${(err as NodeJS.ErrnoException).code})`);
        else this.note('bad-fd', who, `refused fd for source ${label} from ${who}: ${(err as Error).message}`);
      }
    }
  }

  /** One Input for all (a closure per Input cost ~100 bytes): its fd is closed, the source has one fd fewer. */
  private readonly inputClosed = (i: Input): void => {
    this.inputs.delete(i);
    this.owner(i.src).fds--;
    if (this.fdShortage && !atFdLimit()) this.fdsRecovered();
  };

  /**
   * The kernel set MSG_CTRUNC: it could not install every fd of this hand-off. At memlogd's own
   * fd limit that is memlogd's doing, not the sender's, and the fds that did not fit are gone.
   */
  private truncated(d: Datagram, label: string, who: string): void {
    if (atFdLimit()) {
      this.lostToFdLimit(label, who, d.fds.length === 0 ? 'lost all its fds' : `lost fds (${d.fds.length} arrived)`);
    } else {
      this.note('fds-truncated', who, `datagram for source ${label} from ${who} had more fds than fit; the kernel dropped the rest`);
    }
  }

  /** A hand-off lost fds because memlogd has none left: say so, count it until they come back. */
  private lostToFdLimit(label: string, who: string, what: string): void {
    const first = !this.fdShortage;
    const s = (this.fdShortage ??= { handoffs: 0, sources: new Set<string>() });
    s.handoffs++;
    s.sources.add(label);
    const msg = `memlogd is out of file descriptors (${fdUsage(this.ctx.spare)}): a hand-off for source ${label} from ${who} ${what}; ` +
      'it reads again once fds are closed';
    if (first) this.log(msg);
    else this.note('out-of-fds', 'memlogd', msg);
  }

  /** memlogd can open fds again after running out: how much was lost meanwhile. */
  private fdsRecovered(): void {
    const s = this.fdShortage!;
    this.fdShortage = null;
    this.log(`memlogd has file descriptors again (${fdUsage(this.ctx.spare)}); while it was out of them, ${s.handoffs} hand-off(s) ` +
      `for ${s.sources.size} source(s) lost at least one fd each`);
  }

  private owner(src: number): SourceOwner {
    return (this.owners[src] ??= { pid: -1, uid: -1, fds: 0 });
  }

  /** The daemon-wide part of a stats record (docs/protocol.md). */
  stats(): DaemonStats {
    const st = this.store;
    const time = formatTimeSec; // source times are kept as fractional seconds
    const none: SourceOwner = { pid: -1, uid: -1, fds: 0 };
    return {
      instance: this.instance,
      uptime: (Date.now() - this.startedAt) / 1000,
      store: {
        lines: st.lines, bytes: st.bytes, maxLines: st.maxLines, maxBytes: st.maxBytes, oldest: st.oldestSeq, next: st.nextSeq,
        oldestTime: st.start < st.end ? formatTime(st.secs[st.start], st.nsecs[st.start]) : null, evicted: st.evicted,
      },
      sources: st.sources.map((s) => {
        const o = this.owners[s.id] ?? none;
        return {
          name: s.name.toString('utf8'), lines: s.lines, bytes: s.bytes, totalLines: s.totalLines, totalBytes: s.totalBytes,
          evicted: s.evicted, partial: s.partial, pid: o.pid, uid: o.uid, fds: o.fds, firstSeen: time(s.firstSeen), lastSeen: time(s.lastSeen),
        };
      }),
    };
  }

  /** Stops accepting, closes every fd, unlinks both socket files. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.logSocket?.close();
      for (const i of [...this.inputs]) i.close();
      this.ctx.spare.release();
      this.ctx.ready.close();
      this.notes.flush();
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

/**
 * Random bytes as hex, from /dev/urandom: node:crypto would do the same, but loading it
 * initialises OpenSSL, which costs memlogd 2 MB of RSS and part of its start-up for 8 bytes.
 */
function randomHex(bytes: number): string {
  const b = Buffer.alloc(bytes);
  const fd = fs.openSync('/dev/urandom', 'r');
  try {
    fs.readSync(fd, b);
  } finally {
    fs.closeSync(fd);
  }
  return b.toString('hex');
}
