// One received fd being read into the store under its source name.
//
// Pipes, FIFOs and stream sockets are read by libuv through net.Socket({ fd }): non-blocking,
// no thread-pool thread held while a pipe is quiet (fs.createReadStream on a pipe would park a
// pool thread in a blocking read and stall all other file I/O). Regular files are read to their
// end with ordinary file reads. Anything else (ttys, devices, datagram sockets, write-only fds)
// is refused with a reason; the caller closes it.

import fs from 'node:fs';
import net from 'node:net';
import type { Readable } from 'node:stream';
import * as native from '../native/index.js';
import type { WallClock } from './clock.js';
import { LineFramer } from './framing.js';
import { LinePriority, type PriorityPolicy } from './priority.js';
import type { Store } from './store.js';

const O_ACCMODE = 3;
const O_WRONLY = 1;

// Every pipe is read into this one buffer (net.Socket's `onread`): each chunk is framed and
// copied into the store before the callback returns, so no read needs a buffer of its own.
// Saves a 64 KiB allocation per read, and the memory churn that came with it.
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

export interface InputContext {
  store: Store;
  clock: WallClock;
  maxLineLen: number;
  /** Called after each chunk is in the store (readers pump). */
  onIngest: () => void;
  /** Records one of memlogd's own events. */
  log: (msg: string) => void;
  /** How a source's lines get their priority (priority.ts). */
  priorityOf: (src: number) => PriorityPolicy;
}

/** How a received fd is read: a regular file, a stream (pipe, FIFO, socket), or refused (why). */
export type FdKind = 'file' | 'stream' | { refused: string };

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
  return st.isFile() ? 'file' : 'stream';
}

export class Input {
  private readonly stream: Readable;
  private readonly framer: LineFramer;
  private closed = false;
  /** The supervisor's id for its duplicate of this fd (0: none). */
  holdId = 0;
  /** A successor reads this fd now (no release to the supervisor: the successor continues). */
  handedOver = false;

  /**
   * Takes ownership of fd (it is closed when the stream ends or on close()); kind from classify().
   * carry: an unfinished line a predecessor read from this fd (graceful restart).
   */
  constructor(readonly fd: number, readonly kind: 'file' | 'stream', readonly src: number, private readonly ctx: InputContext,
    private readonly onClose: (i: Input) => void, carry?: Buffer) {
    const { store, clock } = ctx;
    const prio = new LinePriority(ctx.priorityOf(src));
    this.framer = new LineFramer(ctx.maxLineLen,
      (buf, start, end, flags) => {
        const pri = prio.line(buf, start, end, flags);
        store.append(src, buf, prio.start, end, clock.sec, clock.nsec, flags, pri);
      },
      (buf, starts, ends, flags, n) => {
        const pris = prio.batch(buf, starts, ends, flags, n);
        store.appendBatch(src, buf, starts, ends, flags, n, clock.sec, clock.nsec, prio.policy.pri, pris ?? undefined);
      });
    if (carry?.length) this.framer.restoreCarry(carry);
    const onChunk = (chunk: Buffer) => {
      clock.now();
      this.framer.push(chunk);
      ctx.onIngest();
    };
    if (kind === 'file') {
      this.stream = fs.createReadStream('', { fd, highWaterMark: 64 * 1024 });
      this.stream.on('data', onChunk);
    } else {
      this.stream = new net.Socket({
        fd, readable: true, writable: false,
        onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => void onChunk((buf as Buffer).subarray(0, n)) },
      } as net.SocketConstructorOpts);
    }
    this.stream.on('end', () => this.finish());
    this.stream.on('error', (err: NodeJS.ErrnoException) => {
      ctx.log(`reading ${this.label()} failed: ${err.code ?? err.message}`);
      this.finish();
    });
    this.stream.on('close', () => this.finish());
  }

  private label(): string {
    return `fd for source ${JSON.stringify(this.ctx.store.sources[this.src].name.toString())}`;
  }

  /** End of stream: flush a last line without newline, release the fd. */
  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.ctx.clock.now();
    this.framer.end();
    this.ctx.onIngest();
    this.stream.destroy();
    this.onClose(this);
  }

  /** Shutdown: stop reading and close the fd (a partial last line is still stored). */
  close(): void {
    this.finish();
  }

  /** Stops reading for a moment (a graceful restart in progress); resume() goes on. */
  pause(): void {
    if (!this.closed) this.stream.pause();
  }

  resume(): void {
    if (!this.closed) this.stream.resume();
  }

  /** A successor reads this fd now: stop without storing anything more, close our copy. */
  release(): void {
    if (this.closed) return;
    this.closed = true;
    this.handedOver = true;
    this.stream.destroy();
    this.onClose(this);
  }

  /** The unfinished line held back (a successor continues it). */
  carryBytes(): Buffer {
    return this.framer.carryBytes();
  }
}
