// logwrite: streams everything memlogd holds into per-source files under a log directory, with
// rotation, an optional total cap and compression, and resumes after a restart (even kill -9)
// exactly where the files end: no line twice, none lost that memlogd still holds.
//
// It speaks protocol v2 (docs/protocol.md): {"mode":"dump+follow","after":"<cursor>"}; the
// cursor and the pieces of a long line being joined are kept in the state file (state.ts)
// together with the size of every file at that cursor. See docs/logwrite.md. This file is the
// connection to memlogd (reconnects with backoff); batch.ts writes what arrives.

import fs from 'node:fs';
import type net from 'node:net';
import { Backoff } from '../client/backoff.js';
import { connectQuery } from '../client/query.js';
import { encodeRequest, type QueryRequest, type V2Record } from '../protocol/v2.js';
import { BatchWriter, type BatchHost } from './batch.js';
import { Checkpoints } from './checkpoint.js';
import { LogFiles } from './files.js';
import { lockDir } from './lock.js';
import { settingsOf, type LogwriteOptions, type LogwriteSettings } from './options.js';
import { readState, type State } from './state.js';
import { Tracker, type Step } from '../client/tracker.js';

type ConnState = 'starting' | 'connected' | 'waiting';

/** One logwrite: a log directory fed from one memlogd. */
export class Logwriter implements BatchHost {
  private readonly backoff: Backoff;
  private readonly batches: BatchWriter;
  private sock: net.Socket | null = null;
  private requestedAfter = false;
  private connState: ConnState = 'starting';
  stopped = false;
  private wake: (() => void) | null = null;
  private done: Promise<void> | null = null;
  private protocolSaid = '';

  private constructor(private readonly o: LogwriteSettings, private readonly files: LogFiles, private readonly tracker: Tracker,
    private readonly lock: net.Server, saved: State | null) {
    this.backoff = new Backoff(o.backoffMinMs, o.backoffMaxMs);
    const checkpoints = new Checkpoints(o.logDir, o.fsync, files, tracker, saved);
    this.batches = new BatchWriter(o, files, tracker, checkpoints, this);
  }

  /** Takes the directory: locks it, repairs what a crash left, cuts files back to the state. */
  static async open(opts: LogwriteOptions = {}): Promise<Logwriter> {
    const o = settingsOf(opts);
    fs.mkdirSync(o.logDir, { recursive: true });
    const lock = await lockDir(o.logDir);
    let files: LogFiles | null = null;
    try {
      let state: State | null;
      try {
        state = readState(o.logDir);
      } catch (err) {
        // A state file we cannot read: start over (duplicates are possible, loss is not).
        o.log(`${(err as Error).message}; starting from everything memlogd holds`);
        state = null;
      }
      files = new LogFiles({
        dir: o.logDir, maxSize: o.maxLogSize, maxFiles: o.maxLogFiles, maxTotal: o.maxTotalSize || null, compress: o.compress,
        sync: o.fsync.mode !== 'never', log: o.log,
      });
      const rec = files.reconcile(state);
      for (const w of rec.warnings) o.log(w);
      if (rec.cutFiles > 0) {
        o.log(`cut ${rec.cutFiles} file${rec.cutFiles > 1 ? 's' : ''} back to the last state (${rec.cutBytes} bytes written after it are read again from memlogd)`);
      }
      const tracker = new Tracker({ maxLineBytes: o.maxLineBytes }, state);
      const lw = new Logwriter(o, files, tracker, lock, state);
      files.kickCompression();
      return lw;
    } catch (err) {
      if (files) await files.close();
      lock.close();
      throw err;
    }
  }

  /** The cursor logwrite would resume after now (`<instance>:<seq>`), or null. */
  get cursor(): string | null {
    return this.tracker.cursor;
  }

  /** Lines written (for tests and benchmarks). */
  get linesWritten(): number {
    return this.batches.linesWritten;
  }

  /** Reads from memlogd until stop(); then flushes, writes the state, closes everything. */
  run(): Promise<void> {
    this.done ??= this.loop();
    return this.done;
  }

  /** Asks run() to finish (SIGTERM). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.sock?.destroy();
    this.wake?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = null;
        resolve();
      };
    });
  }

  private setConn(s: ConnState, msg: string): void {
    if (this.connState === s) return;
    this.connState = s;
    this.o.log(msg);
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const after = this.tracker.cursor;
      const req: QueryRequest = { mode: 'dump+follow' };
      if (after) req.after = after;
      let sock: net.Socket;
      try {
        sock = await connectQuery(this.o.socket, encodeRequest(req));
      } catch (err) {
        if (this.stopped) break;
        const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
        this.setConn('waiting', `memlogd is not reachable at ${this.o.socket} (${cause?.code ?? (err as Error).message}); waiting for it`);
        await this.sleep(this.backoff.next());
        continue;
      }
      if (this.stopped) {
        sock.destroy();
        break;
      }
      this.sock = sock;
      this.requestedAfter = after !== null;
      this.tracker.reconnect();
      this.batches.reset();
      let why = 'memlogd closed the connection';
      try {
        await readChunks(sock, (chunk) => this.batches.push(chunk));
      } catch (err) {
        why = (err as Error).message;
      }
      sock.destroy();
      this.sock = null;
      if (this.stopped) break;
      // Whatever was queued is asked for again on the next connection (the tracker is at its start).
      this.batches.dropQueued();
      this.setConn('waiting', `lost the connection to memlogd (${why}); reconnecting`);
      await this.sleep(this.backoff.next());
    }
    this.batches.shutdown();
    await this.files.close();
    await new Promise<void>((r) => this.lock.close(() => r()));
  }

  // --- BatchHost ---

  plan(rec: V2Record): Step[] | null {
    switch (rec.type) {
      case undefined:
        return this.tracker.entry(rec);
      case 'start':
        this.backoff.reset();
        this.protocolSaid = '';
        this.setConn('connected', `connected to memlogd at ${this.o.socket} (instance ${rec.instance}); ${this.requestedAfter
          ? `resuming after ${this.cursor}` : 'writing everything it holds'}`);
        return this.tracker.start(rec, this.requestedAfter);
      case 'gap':
        return this.tracker.gap(rec);
      case 'end':
        return this.tracker.end(rec.next);
      case 'error':
        this.protocolTrouble(`memlogd refused the request: ${rec.code}: ${rec.message}`);
        return null;
      default:
        return [];
    }
  }

  protocolTrouble(msg: string): void {
    if (this.protocolSaid !== msg) this.o.log(msg);
    this.protocolSaid = msg;
    this.connState = 'waiting';
    this.batches.discardRest(); // nothing after it is read
    this.sock?.destroy();
  }

  pause(): void {
    this.sock?.pause();
  }

  resume(): void {
    this.sock?.resume();
  }

  /** Waits until background compression is done (tests, benchmarks). */
  compressionIdle(): Promise<void> {
    return this.files.compressionIdle();
  }
}

/** Calls onChunk with every chunk until the server closes the connection; rejects on an error or when onChunk throws. */
function readChunks(sock: net.Socket, onChunk: (chunk: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let failed = false;
    sock.on('data', (chunk: Buffer) => {
      if (failed) return;
      try {
        onChunk(chunk);
      } catch (err) {
        failed = true;
        sock.destroy();
        reject(err);
      }
    });
    sock.once('end', () => sock.destroy());
    sock.once('close', () => {
      if (!failed) resolve();
    });
    sock.once('error', (err) => {
      failed = true;
      reject(err);
    });
  });
}
