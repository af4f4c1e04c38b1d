// memlogd: the store, the logging socket (fds in), the syslog socket (messages in), the query
// socket (NDJSON out), wired.

import fs from 'node:fs';
import * as native from '../native/index.js';
import {
  DAEMON_DEFAULTS, DEFAULT_LOG_SOCKET_MODE, DEFAULT_QUERY_SOCKET_MODE, DEFAULT_SYSLOG_SOCKET_MODE, MAX_NAME_LEN, SELF_SOURCE,
  SYSLOG_SOURCE_PREFIX,
} from '../protocol/constants.js';
import { OutOfRangeError } from '../protocol/errors.js';
import { packPri, streamSeverity } from '../protocol/severity.js';
import type { DaemonStats } from '../protocol/stats.js';
import { streamOf } from '../protocol/v1.js';
import { formatTime, formatTimeSec } from '../protocol/time.js';
import { WallClock } from './clock.js';
import { splitMessage } from './framing.js';
import { atFdLimit, fdUsage, outOfFds, SpareFd } from './fds.js';
import { classify, Input, type InputContext } from './input.js';
import { NoteLimiter } from './notes.js';
import { parseLevelPrefix, type LevelPrefix, type PriorityPolicy } from './priority.js';
import { ReadySet } from './ready-set.js';
import { LogSocket, type Datagram } from './log-socket.js';
import { SyslogInput, type SyslogState } from './syslog-input.js';
import { QueryServer } from './query-server.js';
import { adoptSocket, bindSocket, unlinkIfOurs, type BoundSocket } from './socket-file.js';
import type { ConnectionState } from './connection.js';
import { Holder, type Adopted } from './holder.js';
import { Store, type StoreSnapshot } from './store.js';

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
  /** The supervisor's control channel (supervisor.ts): keeps a duplicate of every source fd. */
  supervisorFd?: number;
  /** Started by the supervisor after the previous memlogd crashed. */
  afterCrash?: boolean;
  /** Globs of the sources whose lines may start with `<N>` to give their priority (default: kmsg). */
  levelPrefix?: string[];
  /** The syslog socket (/dev/log): its path, or an inherited bound fd, and its file mode (default 0666). */
  socketSyslog?: string;
  fdSyslog?: number;
  socketSyslogMode?: number;
  /** Program names one uid may make on the syslog socket (syslog-input.ts). */
  syslogIdentsPerUid?: number;
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

/** What a graceful restart carries over besides the fds (JSON; restart.ts). */
export interface DaemonHandoverState {
  opts: DaemonOptions;
  instance: string;
  startedAt: number;
  owners: SourceOwner[];
  store: StoreSnapshot;
  syslog?: SyslogState;
}

/** The restored parts a successor's daemon starts from. */
export interface Restored {
  store: Store;
  instance: string;
  startedAt: number;
  owners: SourceOwner[];
  syslog?: SyslogState;
}

/** The fds a predecessor handed over, with what goes with each. */
export interface HandedOver {
  logFd: number;
  queryFd: number;
  /** The syslog socket, when memlogd has one. */
  syslogFd?: number;
  inputs: Array<{ fd: number; kind: 'file' | 'stream'; src: number; carry: Buffer; holdId: number }>;
  connections: Array<{ fd: number; state: ConnectionState }>;
  /** The supervisor's control channel, and the next id of a held fd. */
  supervisor?: { fd: number; nextId: number };
}

const SYSLOG_PREFIX = Buffer.from(SYSLOG_SOURCE_PREFIX);

/** memlogd's own notes: notice, facility syslog (RFC 5424: the syslog daemon's own messages). */
const SELF_PRI = packPri(5, 5);

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
  private syslog?: SyslogInput;
  private syslogBound?: BoundSocket;
  private bound: BoundSocket[] = [];
  private notifyScheduled = false;
  private closing?: Promise<void>;
  private readonly ctx: InputContext;
  readonly startedAt: number;
  /** This start's identity: cursors from another instance mean memlogd restarted (a graceful restart keeps it). */
  readonly instance: string;
  private readonly allowLog: ReadonlySet<number>;
  private readonly owners: SourceOwner[];
  /** The supervisor's side of things: duplicates of our source fds (null: no supervisor). */
  private holder: Holder | null = null;
  private readonly levelPrefix: LevelPrefix[];
  /** memlogd's notes about senders and clients, rate-limited (the daemon's own events are not). */
  private readonly notes = new NoteLimiter((m) => this.log(m));
  /** Set while memlogd is out of fds: hand-offs that lost fds meanwhile. */
  private fdShortage: { handoffs: number; sources: Set<string> } | null = null;

  /** restored: what a predecessor handed over in a graceful restart (restart.ts). */
  private constructor(readonly opts: DaemonOptions, restored?: Restored) {
    if (opts.maxLineLen > opts.maxBytes) {
      throw new OutOfRangeError(`max-line-len (${opts.maxLineLen}) cannot exceed max-bytes (${opts.maxBytes})`);
    }
    this.store = restored?.store ?? new Store({ maxLines: opts.maxLines, maxBytes: opts.maxBytes });
    this.instance = restored?.instance ?? randomHex(8);
    this.startedAt = restored?.startedAt ?? Date.now();
    this.owners = restored?.owners ?? [];
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
      priorityOf: (src) => this.priorityOf(src),
    };
    this.levelPrefix = (opts.levelPrefix ?? DAEMON_DEFAULTS.levelPrefix).map(parseLevelPrefix);
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

  /**
   * A daemon continuing a predecessor's (graceful restart): its store, identity, sockets, inputs
   * and connections, taken up where they were. Nothing is re-bound; no entry is logged here.
   */
  static adopt(opts: DaemonOptions, restored: Restored, h: HandedOver): Daemon {
    const d = new Daemon(opts, restored);
    if (h.supervisor) d.attachSupervisor(h.supervisor.fd, h.supervisor.nextId);
    const log = adoptSocket('dgram', h.logFd);
    const query = adoptSocket('stream', h.queryFd);
    d.bound.push(log, query);
    d.logSocket = d.newLogSocket(log.fd);
    if (h.syslogFd !== undefined) d.startSyslog(adoptSocket('dgram', h.syslogFd), restored.syslog);
    for (const i of h.inputs) d.addInput(i.fd, Daemon.rekind(i.fd, i.kind), i.src, i.carry, i.holdId);
    d.query.adoptConnections(h.connections);
    d.logSocket.start();
    d.query.listen(query.fd);
    return d;
  }

  /** Stops every read and write for a moment (a graceful restart in progress); thaw() goes on. */
  freeze(): void {
    this.logSocket?.stop();
    this.syslog?.stop();
    for (const i of this.inputs) i.pause();
    this.query.freeze();
  }

  thaw(): void {
    this.logSocket?.start();
    this.syslog?.start();
    for (const i of this.inputs) i.resume();
    this.query.thaw();
  }

  /** What a successor needs (after freeze()): the JSON state, the store's bytes, and the fds. */
  exportState(): { state: DaemonHandoverState; blobs: Buffer[]; handed: HandedOver } {
    const snap = this.store.snapshot();
    const inputs = [...this.inputs].map((i) => ({ fd: i.fd, kind: i.kind, src: i.src, carry: i.carryBytes(), holdId: i.holdId }));
    return {
      state: {
        opts: this.opts, instance: this.instance, startedAt: this.startedAt, owners: this.owners, store: snap.meta, syslog: this.syslog?.exportState(),
      },
      blobs: snap.blobs,
      handed: {
        logFd: this.bound[0].fd, queryFd: this.bound[1].fd, syslogFd: this.syslogBound?.fd, inputs, connections: this.query.exportConnections(),
        supervisor: this.holder ? { fd: this.holder.fd, nextId: this.holder.next } : undefined,
      },
    };
  }

  /** The successor serves now: let go of everything (our copies of the fds) and leave the socket files be. */
  handedOver(): void {
    this.closing = Promise.resolve();
    this.holder?.detach();
    this.holder = null; // the successor talks to the supervisor now: no release for what it reads
    this.logSocket?.close();
    this.syslog?.close();
    for (const i of [...this.inputs]) i.release();
    this.query.handedOver();
  }

  /** Talks to the supervisor on fd (firstId: where a predecessor's numbering of held fds ended). */
  attachSupervisor(fd: number, firstId = 1): void {
    this.holder = new Holder(fd, (inputs, lost, crashes) => this.adoptHeld(inputs, lost, crashes), firstId);
  }

  /** Tells the supervisor this memlogd serves (and, on SIGTERM, that it stops on purpose). */
  serving(): void {
    this.holder?.serving(this.opts.afterCrash === true);
  }

  stopping(): void {
    this.holder?.stopping();
  }

  /** After a crash: the sources the supervisor kept, read again; what the dead memlogd held is gone. */
  private adoptHeld(inputs: Adopted[], lost: Record<string, { lines: number; bytes: number }>, crashes: number): void {
    for (const i of inputs) {
      const src = this.store.source(i.name);
      try {
        this.addInput(i.fd, Daemon.rekind(i.fd, i.kind), src, undefined, i.id);
      } catch (err) {
        closeAll([i.fd]);
        this.log(`could not take up fd for source ${JSON.stringify(i.name.toString())} again: ${(err as Error).message}`);
      }
    }
    const drained = Object.entries(lost).map(([name, l]) => `${Buffer.from(name, 'base64').toString()}: ${l.lines} lines (${l.bytes} bytes)`);
    this.log(`memlogd restarted after a crash (${crashes} so far): took up ${inputs.length} inputs again from the supervisor; ` +
      'what the previous memlogd held in memory is lost' +
      (drained.length ? `; while it was down the supervisor drained and lost ${drained.join(', ')}` : ''));
  }

  private async listen(): Promise<void> {
    const o = this.opts;
    if (o.supervisorFd !== undefined) this.attachSupervisor(o.supervisorFd);
    this.log('memlogd started');
    this.ctx.spare.refill();
    const log = o.fdLog !== undefined
      ? adoptSocket('dgram', o.fdLog)
      : bindSocket('dgram', o.socketLog, o.socketLogMode ?? DEFAULT_LOG_SOCKET_MODE, o.socketGroup);
    this.bound.push(log);
    this.logSocket = this.newLogSocket(log.fd);
    this.logSocket.start();
    const query = o.fdQuery !== undefined
      ? adoptSocket('stream', o.fdQuery)
      : bindSocket('stream', o.socketQuery, o.socketQueryMode ?? DEFAULT_QUERY_SOCKET_MODE, o.socketGroup);
    this.bound.push(query);
    if (o.fdSyslog !== undefined || o.socketSyslog !== undefined) {
      this.startSyslog(o.fdSyslog !== undefined
        ? adoptSocket('dgram', o.fdSyslog)
        : bindSocket('dgram', o.socketSyslog!, o.socketSyslogMode ?? DEFAULT_SYSLOG_SOCKET_MODE));
    }
    try {
      await this.query.listen(query.fd);
    } catch (err) {
      closeAll([query.fd]); // the server never took it over
      throw err;
    }
  }

  private startSyslog(b: BoundSocket, state?: SyslogState): void {
    this.syslogBound = b;
    this.syslog = new SyslogInput(b.fd, {
      store: this.store, clock: this.clock, maxLineLen: this.opts.maxLineLen, maxSources: MAX_SOURCES,
      identsPerUid: this.opts.syslogIdentsPerUid ?? DAEMON_DEFAULTS.syslogIdentsPerUid,
      onIngest: this.ctx.onIngest, log: (m, kind, who) => (kind === undefined ? this.log(m) : this.note(kind, who ?? '', m)),
      sentBy: (src, pid, uid) => {
        const o = this.owner(src);
        o.pid = pid;
        o.uid = uid;
      },
    }, state);
    this.syslog.start();
  }

  /** Records one of memlogd's own events under source memlogd. */
  log(msg: string): void {
    this.clock.now();
    const { sec, nsec } = this.clock;
    splitMessage(Buffer.from(msg), this.opts.maxLineLen, (b, s, e, f) => this.store.append(this.selfId, b, s, e, sec, nsec, f, SELF_PRI));
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
    if (d.name.subarray(0, SYSLOG_PREFIX.length).equals(SYSLOG_PREFIX)) {
      closeAll(d.fds);
      this.note('reserved-name', who, `refused ${d.fds.length} fd(s) for source ${label} from ${who}: names starting ` +
        `${JSON.stringify(SYSLOG_SOURCE_PREFIX)} are the syslog socket's`);
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
        this.addInput(fd, kind, src);
      } catch (err) {
        closeAll([fd]);
        if (outOfFds(err)) this.lostToFdLimit(label, who, `could not reopen its pipe (${(err as NodeJS.ErrnoException).code})`);
        else this.note('bad-fd', who, `refused fd for source ${label} from ${who}: ${(err as Error).message}`);
      }
    }
  }

  /** The logging socket on fd: its datagrams are hand-offs (not started yet). */
  private newLogSocket(fd: number): LogSocket {
    return new LogSocket(fd, (d) => this.datagram(d), (err) => this.log(`logging socket error: ${err.message}`));
  }

  /** One Input for all (a closure per Input cost ~100 bytes): its fd is closed, the source has one fd fewer. */
  private readonly inputClosed = (i: Input): void => {
    this.inputs.delete(i);
    this.owner(i.src).fds--;
    if (!i.handedOver) this.holder?.release(i.holdId);
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

  /**
   * Reads fd into the store as source src (carry: an unfinished line a predecessor read; holdId:
   * the supervisor holds a duplicate already). Throws, leaving fd to the caller, if it cannot.
   */
  private addInput(fd: number, kind: 'file' | 'pipe' | 'socket', src: number, carry?: Buffer, holdId?: number): void {
    const input = new Input(fd, kind, src, this.ctx, this.inputClosed, carry);
    // what memlogd reads (its own description of a pipe) is what the supervisor keeps
    input.holdId = holdId ?? this.holder?.hold(input.fd, this.store.sources[src].name, input.kind) ?? 0;
    this.inputs.add(input);
    this.owner(src).fds++;
  }

  /** How to read an fd handed back as a 'file' or a 'stream' (graceful restart, after a crash). */
  private static rekind(fd: number, kind: 'file' | 'stream'): 'file' | 'pipe' | 'socket' {
    return kind === 'file' ? 'file' : classify(fd) === 'socket' ? 'socket' : 'pipe';
  }

  /** A source's priority policy: its stream's default, and whether its lines may say with `<N>`. */
  private priorityOf(src: number): PriorityPolicy {
    const name = this.store.sources[src].name.toString('utf8');
    const lp = this.levelPrefix.find((x) => x.glob.matches(name));
    return { pri: packPri(streamSeverity(streamOf(name)), lp ? lp.facility : null), prefix: lp !== undefined };
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
      pid: process.pid,
      uptime: (Date.now() - this.startedAt) / 1000,
      store: {
        lines: st.lines, bytes: st.bytes, maxLines: st.maxLines, maxBytes: st.maxBytes, oldest: st.oldestSeq, next: st.nextSeq,
        oldestTime: st.start < st.end ? formatTime(st.secs[st.start], st.nsecs[st.start]) : null, evicted: st.evicted,
      },
      sources: st.sources.map((s) => {
        const o = this.owners[s.id] ?? none;
        return {
          name: s.name.toString('utf8'), lines: s.lines, bytes: s.bytes, totalLines: s.totalLines, totalBytes: s.totalBytes,
          evicted: s.evicted, partial: s.partial, severities: s.severities, pid: o.pid, uid: o.uid, fds: o.fds,
          firstSeen: time(s.firstSeen), lastSeen: time(s.lastSeen),
        };
      }),
    };
  }

  /** Stops accepting, closes every fd, unlinks both socket files. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.holder?.close();
      this.logSocket?.close();
      this.syslog?.close();
      for (const i of [...this.inputs]) i.close();
      this.ctx.spare.release();
      this.ctx.ready.close();
      this.notes.flush();
      await this.query.close();
      for (const b of this.bound) unlinkIfOurs(b);
      if (this.syslogBound) unlinkIfOurs(this.syslogBound);
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
