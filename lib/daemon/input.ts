// One received fd being read into the store under its source name.
//
// A received fd shares its file description with the sender, who may have kept a copy: whatever
// the sender does to the description (clear O_NONBLOCK with fcntl) applies to memlogd's reads
// too, and one blocking read would stop memlogd entirely. So memlogd reads nothing through a
// description it does not own, or with a call that could block:
//
// - Pipes and FIFOs are reopened through /proc/self/fd/N with O_RDONLY|O_NONBLOCK: a new file
//   description of the same pipe, which only memlogd holds. The received fd is closed at once.
// - Sockets cannot be reopened that way (ENXIO); they are read with recv(MSG_DONTWAIT), which
//   does not block whatever the description's flags say. Listening sockets (they would be held,
//   still in LISTEN, until someone connects) and anything but SOCK_STREAM are refused.
// - Either is read on the event loop: readiness from one epoll set watched by libuv
//   (ready-set.ts), then non-blocking reads into one shared 64 KiB buffer. No net.Socket: its
//   stream state cost ~5 KB per idle source, and it reads with read(2) on the shared description.
// - Regular files cannot block; they are read to their end with ordinary file reads.
//
// Anything else (ttys, devices, write-only fds) is refused with a reason; the caller closes it.

import fs from 'node:fs';
import type { Readable } from 'node:stream';
import * as native from '../native/index.js';
import type { WallClock } from './clock.js';
import { outOfFds, type SpareFd } from './fds.js';
import { LineFramer } from './framing.js';
import { LinePriority, type PriorityPolicy } from './priority.js';
import type { ReadySet, Watched } from './ready-set.js';
import type { Store } from './store.js';

const O_ACCMODE = 3;
const O_WRONLY = 1;

// Every pipe and socket is read into this one buffer: each chunk is framed and copied into the
// store before the next read, so no read needs a buffer of its own. Saves a 64 KiB allocation
// per read, and the memory churn that came with it.
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
/** Reads per readiness callback before yielding to other fds (what libuv does for its streams). */
const READS_PER_WAKEUP = 32;

export interface InputContext {
  store: Store;
  clock: WallClock;
  maxLineLen: number;
  /** Called after each chunk is in the store (readers pump). */
  onIngest: () => void;
  /** A note about this input's source (`source "NAME"`), rate-limited per kind and source. */
  note: (kind: string, source: string, msg: string) => void;
  /** The fd kept free so that a pipe can be reopened even at the fd limit. */
  spare: SpareFd;
  /** Where pipes and sockets wait for readiness. */
  ready: ReadySet;
  /** How a source's lines get their priority (priority.ts). */
  priorityOf: (src: number) => PriorityPolicy;
}

/**
 * How a received fd is read: a regular file, a pipe or FIFO (reopened), a stream socket
 * (recv), or refused (why).
 */
export type FdKind = 'file' | 'pipe' | 'socket' | { refused: string };

export function classify(fd: number): FdKind {
  let st: fs.Stats;
  try {
    st = fs.fstatSync(fd);
  } catch (err) {
    return { refused: `fstat failed: ${(err as NodeJS.ErrnoException).code}` };
  }
  if (!st.isFIFO() && !st.isSocket() && !st.isFile()) {
    return { refused: st.isCharacterDevice() ? 'it is a character device (a tty?), not a pipe' : 'it is not a pipe, socket or file' };
  }
  try {
    const [, fl] = native.fdFlags(fd);
    if ((fl & O_ACCMODE) === O_WRONLY) return { refused: 'it is open write-only (the write end of a pipe?)' };
  } catch (err) {
    return { refused: `fcntl failed: ${(err as NodeJS.ErrnoException).code}` };
  }
  if (st.isSocket()) {
    try {
      const { type, listening } = native.sockInfo(fd);
      if (listening) return { refused: 'it is a listening socket: memlogd reads streams, it does not accept connections' };
      if (type !== native.SOCK_STREAM) return { refused: `it is a ${type === native.SOCK_DGRAM ? 'datagram' : `type ${type}`} socket, not a stream` };
    } catch (err) {
      return { refused: `getsockopt failed: ${(err as NodeJS.ErrnoException).code}` };
    }
    return 'socket';
  }
  return st.isFile() ? 'file' : 'pipe';
}

/**
 * Opens a description of the pipe behind fd that is memlogd's alone (read-only, non-blocking,
 * close-on-exec), using the spare fd if memlogd is at its limit. Throws what open throws.
 */
function reopen(fd: number, spare: SpareFd): number {
  const path = `/proc/self/fd/${fd}`;
  const flags = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;
  try {
    return fs.openSync(path, flags);
  } catch (err) {
    if (!outOfFds(err) || !spare.release()) throw err;
    return fs.openSync(path, flags); // the caller refills the spare once the received fd is closed
  }
}

/**
 * A received fd being read. It is its own line framer (an Input is a LineFramer whose lines go
 * to the store): one object per source and no closures, so that an idle source costs little.
 */
export class Input extends LineFramer implements Watched {
  /** The fd memlogd reads: its own description for a pipe, the received fd otherwise. */
  readonly fd: number;
  /** As a graceful restart and the supervisor know it: a regular file, or a stream (pipe, socket). */
  readonly kind: 'file' | 'stream';
  /** Read with recv (a socket) rather than read. */
  private readonly socket: boolean;
  /** Its token in ctx.ready while watched, else -1. */
  private token = -1;
  private file: Readable | null = null;
  private closed = false;
  /** Paused: not watched for a moment (a graceful restart in progress). */
  private paused = false;
  /** The priority of this source's lines (`<N>` prefixes read only where the policy says: prio). */
  private readonly pri: number;
  private readonly prio: LinePriority | null;
  /** The supervisor's id for its duplicate of this fd (0: none). */
  holdId = 0;
  /** A successor reads this fd now (no release to the supervisor: the successor continues). */
  handedOver = false;

  /**
   * Takes ownership of fd (it is closed when the stream ends or on close()); kind from
   * classify(). Throws, leaving fd open for the caller to close, when it cannot be read.
   * carry: an unfinished line a predecessor read from this fd (graceful restart).
   */
  constructor(fd: number, kind: 'file' | 'pipe' | 'socket', readonly src: number, private readonly ctx: InputContext,
    private readonly onClose: (i: Input) => void, carry?: Buffer) {
    super(ctx.maxLineLen);
    const policy = ctx.priorityOf(src);
    this.pri = policy.pri;
    this.prio = policy.prefix ? new LinePriority(policy) : null;
    if (carry?.length) this.restoreCarry(carry);
    this.kind = kind === 'file' ? 'file' : 'stream';
    this.socket = kind === 'socket';
    if (kind === 'file') {
      this.fd = fd;
      const file = (this.file = fs.createReadStream('', { fd, highWaterMark: 64 * 1024 }));
      file.on('data', (chunk) => this.chunk(chunk as Buffer));
      file.on('end', () => this.finish());
      file.on('error', (err: NodeJS.ErrnoException) => this.failed(err));
      file.on('close', () => this.finish());
      return;
    }
    let ended = false;
    let readFd = fd;
    if (kind === 'pipe') {
      // A pipe whose writers are all gone and that holds nothing is over. A reopened FIFO would
      // not say so (Linux reports no hang-up to a FIFO reader until it has seen a writer), so ask
      // the received description first.
      const ev = native.pollNow(fd, native.POLLIN);
      ended = (ev & native.POLLHUP) !== 0 && (ev & native.POLLIN) === 0;
      try {
        readFd = reopen(fd, ctx.spare);
      } catch (err) {
        if (outOfFds(err)) throw err;
        // Not ours to open (EACCES: a pipe of another uid while memlogd is not root): read the
        // sender's description, as memlogd did before it reopened pipes, and say so.
        ctx.note('shared-description', this.source(), `reading ${this.label()} through the sender's own file description ` +
          `(reopening it failed: ${(err as NodeJS.ErrnoException).code}); a sender that makes it blocking can stall memlogd`);
        native.setNonBlocking(fd, true);
      }
    }
    try {
      this.token = ctx.ready.add(readFd, this);
    } catch (err) {
      if (readFd !== fd) native.close(readFd); // the caller closes the received fd
      throw err;
    }
    if (readFd !== fd) {
      native.close(fd);
      ctx.spare.refill(); // if reopening took it
    }
    this.fd = readFd;
    if (ended) setImmediate(() => this.readable());
  }

  /** The fd is readable, hung up or in error: read until it is drained, or yield. */
  readable(): void {
    if (this.closed || this.paused) return;
    const len = READ_BUFFER.length;
    for (let i = 0; i < READS_PER_WAKEUP; i++) {
      let n: number | null;
      try {
        n = this.socket ? native.recv(this.fd, READ_BUFFER, 0, len) : native.read(this.fd, READ_BUFFER, 0, len);
      } catch (err) {
        return this.failed(err as NodeJS.ErrnoException);
      }
      if (n === null) return;
      if (n === 0) return this.finish();
      this.chunk(READ_BUFFER.subarray(0, n));
      if (this.closed || n < len) return; // a short read drained it; epoll says if more came
    }
  }

  // --- LineFramer: lines go to the store, stamped with the time of their chunk ---

  protected override deliver(buf: Buffer, start: number, end: number, flags: number): void {
    const { store, clock } = this.ctx;
    const prio = this.prio;
    if (prio === null) store.append(this.src, buf, start, end, clock.sec, clock.nsec, flags, this.pri);
    else {
      const pri = prio.line(buf, start, end, flags);
      store.append(this.src, buf, prio.start, end, clock.sec, clock.nsec, flags, pri);
    }
  }

  protected override deliverBatch(buf: Buffer, starts: Int32Array, ends: Int32Array, flags: Uint8Array, n: number): void {
    const { store, clock } = this.ctx;
    const pris = this.prio?.batch(buf, starts, ends, flags, n) ?? undefined;
    store.appendBatch(this.src, buf, starts, ends, flags, n, clock.sec, clock.nsec, this.pri, pris);
  }

  protected override get batching(): boolean {
    return true;
  }

  private chunk(chunk: Buffer): void {
    this.ctx.clock.now();
    this.push(chunk);
    this.ctx.onIngest();
  }

  private failed(err: NodeJS.ErrnoException): void {
    this.ctx.note('read-failed', this.source(), `reading ${this.label()} failed: ${err.code ?? err.message}`);
    this.finish();
  }

  private source(): string {
    return `source ${JSON.stringify(this.ctx.store.sources[this.src].name.toString())}`;
  }

  private label(): string {
    return `fd for ${this.source()}`;
  }

  /** End of stream: flush a last line without newline, release the fd. */
  private finish(): void {
    if (this.closed) return;
    this.ctx.clock.now();
    this.end();
    this.ctx.onIngest();
    this.stop();
  }

  /** Stops reading and closes our fd (nothing more is stored). */
  private stop(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.file) this.file.destroy();
    else {
      this.unwatch();
      native.close(this.fd);
    }
    this.onClose(this);
  }

  private unwatch(): void {
    if (this.token >= 0) this.ctx.ready.remove(this.fd, this.token);
    this.token = -1;
  }

  /** Shutdown: stop reading and close the fd (a partial last line is still stored). */
  close(): void {
    this.finish();
  }

  /** Stops reading for a moment (a graceful restart in progress); resume() goes on. */
  pause(): void {
    if (this.closed || this.paused) return;
    this.paused = true;
    if (this.file) this.file.pause();
    else this.unwatch(); // level-triggered: a ready fd left in the set would be reported again and again
  }

  resume(): void {
    if (this.closed || !this.paused) return;
    this.paused = false;
    if (this.file) this.file.resume();
    else this.token = this.ctx.ready.add(this.fd, this);
  }

  /** A successor reads this fd now: stop without storing anything more, close our copy. */
  release(): void {
    if (this.closed) return;
    this.handedOver = true;
    this.stop();
  }
}
