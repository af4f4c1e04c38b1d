// logwrite: streams everything memlogd holds into per-source files under a log directory, with
// rotation, an optional total cap and compression, and resumes after a restart (even kill -9)
// exactly where the files end: no line twice, none lost that memlogd still holds.
//
// It speaks protocol v2 (docs/protocol.md): {"mode":"dump+follow","after":"<cursor>"}; the
// cursor and the pieces of a long line being joined are kept in the state file
// (lib/logwrite-state.ts) together with the size of every file at that cursor. See
// docs/logwrite.md.

import fs from 'node:fs';
import net from 'node:net';
import { Backoff, sleep } from './backoff.js';
import { connectQuery, readLines, requestLine } from './client.js';
import { DiskError, LogFiles, type Base } from './logwrite-files.js';
import { formatEntry, formatGap, formatLine, type LineFormat } from './logwrite-format.js';
import { fileBase } from './logwrite-names.js';
import { readState, STATE_VERSION, writeState, type State } from './logwrite-state.js';
import { Tracker, type Out, type Step } from './logwrite-tracker.js';
import { DEFAULT_QUERY_SOCKET, parseRecord, ProtocolError, type QueryRequest, type V2Entry, type V2Record } from './protocol.js';

export type FsyncPolicy = { mode: 'line' } | { mode: 'interval'; ms: number } | { mode: 'never' };

export interface LogwriteOptions {
  /** memlogd's query socket. */
  socket?: string;
  logDir?: string;
  /** Rotate before a file would grow beyond this many bytes (reference default 1 MiB). */
  maxLogSize?: number;
  /** Rotated files kept per source (reference default 10). */
  maxLogFiles?: number;
  /** Cap on the whole directory (bytes); 0: none. */
  maxTotalSize?: number;
  /** gzip rotated files in the background. */
  compress?: boolean;
  /** When data reaches the disk: every line, at an interval (default 1 s), or when the kernel likes. */
  fsync?: FsyncPolicy;
  format?: LineFormat;
  /** A long line is joined from memlogd's pieces up to this many bytes (default 4 MiB). */
  maxLineBytes?: number;
  /** Reconnect backoff bounds (ms). */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** One line per state change (default: stderr, prefixed `logwrite: `). */
  log?: (msg: string) => void;
}

export const LOGWRITE_DEFAULTS = {
  socket: DEFAULT_QUERY_SOCKET,
  logDir: '/var/log',
  maxLogSize: 1024 * 1024,
  maxLogFiles: 10,
  maxTotalSize: 0,
  compress: false,
  fsync: { mode: 'interval', ms: 1000 } as FsyncPolicy,
  format: 'text' as LineFormat,
  maxLineBytes: 4 * 1024 * 1024,
  backoffMinMs: 100,
  backoffMaxMs: 5000,
};

/** Error codes a caller can branch on. */
export const ERR_LOCKED = 'ERR_LOGWRITE_LOCKED';
export const ERR_STATE = 'ERR_LOGWRITE_STATE';

/** `line`, `never`, `interval` (1 s), or an interval: `250ms`, `2s`, `1000` (ms). */
export function parseFsync(v: string): FsyncPolicy {
  if (v === 'line' || v === 'always') return { mode: 'line' };
  if (v === 'never') return { mode: 'never' };
  if (v === 'interval') return { mode: 'interval', ms: 1000 };
  const m = /^(\d+)(ms|s)?$/.exec(v);
  if (!m || Number(m[1]) === 0) throw new Error(`--fsync must be line, never, interval or a duration like 500ms or 2s, not ${JSON.stringify(v)}`);
  return { mode: 'interval', ms: Number(m[1]) * (m[2] === 's' ? 1000 : 1) };
}

/** A byte count: `1048576`, `512k`, `10M`, `1GiB` (powers of 1024). */
export function parseSize(v: string): number {
  const m = /^(\d+)\s*(?:([kKmMgGtT])(?:i?B)?|B)?$/.exec(v.trim());
  if (!m) throw new Error(`not a size: ${JSON.stringify(v)} (a number of bytes, or with k, M, G)`);
  const mult = { k: 1, m: 2, g: 3, t: 4 }[(m[2] ?? '').toLowerCase() as 'k'] ?? 0;
  const n = Number(m[1]) * 1024 ** mult;
  if (!Number.isSafeInteger(n)) throw new Error(`size too large: ${v}`);
  return n;
}

export { Backoff } from './backoff.js';

const NON_ASCII = /[^\x00-\x7f]/;
const isAscii = (s: string) => !NON_ASCII.test(s);

/** A DiskError, or an error from fs (a code like ENOSPC) that means the disk refused. */
function isDiskError(err: unknown): err is Error & { code?: string } {
  return err instanceof DiskError || (typeof (err as NodeJS.ErrnoException)?.code === 'string' && (err as NodeJS.ErrnoException).syscall !== undefined);
}

/**
 * A v2 entry line in the exact shape memlogd writes it, read without JSON.parse when no string in
 * it needs unescaping (most lines); anything else (other records, escapes, another key order)
 * returns null and goes through parseRecord.
 */
export function fastEntry(line: string): V2Entry | null {
  if (!line.startsWith('{"seq":')) return null;
  let i = 7;
  let seq = 0;
  for (; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c < 48 || c > 57) break;
    seq = seq * 10 + (c - 48);
  }
  if (i === 7 || !line.startsWith(',"time":"', i)) return null;
  i += 9;
  const tEnd = line.indexOf('"', i);
  if (tEnd < 0) return null;
  const time = line.slice(i, tEnd);
  if (!line.startsWith(',"source":"', tEnd + 1)) return null;
  i = tEnd + 12;
  const sEnd = line.indexOf('"', i);
  if (sEnd < 0) return null;
  const source = line.slice(i, sEnd);
  if (source.includes('\\')) return null;
  let stream: 'stdout' | 'stderr';
  if (line.startsWith(',"stream":"stdout","msg":"', sEnd + 1)) stream = 'stdout';
  else if (line.startsWith(',"stream":"stderr","msg":"', sEnd + 1)) stream = 'stderr';
  else return null;
  i = sEnd + 27;
  let partial = false;
  let mEnd: number;
  if (line.endsWith('"}')) mEnd = line.length - 2;
  else if (line.endsWith('","partial":true}')) {
    mEnd = line.length - 17;
    partial = true;
  } else return null;
  if (mEnd < i) return null;
  const msg = line.slice(i, mEnd);
  if (msg.includes('\\') || msg.includes('"')) return null;
  const e: V2Entry = { seq, time, source, stream, msg };
  if (partial) e.partial = true;
  return e;
}

/** Holds the directory: an abstract unix socket named after its device and inode (freed on any exit). */
async function lockDir(dir: string): Promise<net.Server> {
  const st = fs.statSync(dir);
  const name = `\0memlogd-logwrite:${st.dev}:${st.ino}`;
  const srv = net.createServer((c) => c.destroy());
  await new Promise<void>((resolve, reject) => {
    srv.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE'
        ? Object.assign(new Error(`another logwrite is writing to ${dir}`), { code: ERR_LOCKED })
        : err);
    });
    srv.listen({ path: name }, () => resolve());
  });
  srv.unref();
  return srv;
}

type ConnState = 'starting' | 'connected' | 'waiting';

/** One logwrite: a log directory fed from one memlogd. */
export class Logwriter {
  private readonly o: typeof LOGWRITE_DEFAULTS & { log: (m: string) => void };
  private readonly files: LogFiles;
  private readonly tracker: Tracker;
  private readonly backoff: Backoff;
  private readonly baseOf = new Map<string, Base>();
  private readonly lock: net.Server;
  private sock: net.Socket | null = null;
  private requestedAfter = false;
  private connState: ConnState = 'starting';
  private stopped = false;
  private wake: (() => void) | null = null;
  private done: Promise<void> | null = null;

  // The batch being written: records queue[qi...] are not processed yet; the batch began at
  // record batchQi with the tracker in batchPos (what a rollback returns to).
  private queue: string[] = [];
  private qi = 0;
  private batchQi = 0;
  private batchPos: ReturnType<Tracker['snapshot']>;

  // Disk trouble: writing paused, retried with backoff.
  private blocked: DiskError | null = null;
  private blockedSaid = false;
  private diskBackoff: Backoff;
  private retryTimer: NodeJS.Timeout | null = null;

  // Checkpoints (state file).
  private lastState = '';
  private checkpointTimer: NodeJS.Timeout | null = null;
  private protocolSaid = '';

  /** Protocol anomalies already reported. */
  private anomalies = 0;
  /** Lines written (for tests and benchmarks). */
  linesWritten = 0;

  private constructor(o: Logwriter['o'], files: LogFiles, tracker: Tracker, lock: net.Server) {
    this.o = o;
    this.files = files;
    this.tracker = tracker;
    this.lock = lock;
    this.backoff = new Backoff(o.backoffMinMs, o.backoffMaxMs);
    this.diskBackoff = new Backoff(Math.max(o.backoffMinMs, 200), o.backoffMaxMs);
    this.batchPos = tracker.snapshot();
  }

  /** Takes the directory: locks it, repairs what a crash left, cuts files back to the state. */
  static async open(opts: LogwriteOptions = {}): Promise<Logwriter> {
    const defined = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
    const o = { ...LOGWRITE_DEFAULTS, log: (m: string) => process.stderr.write(`logwrite: ${m}\n`), ...defined } as Logwriter['o'];
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
      const lw = new Logwriter(o, files, tracker, lock);
      lw.lastState = state ? JSON.stringify(state) : '';
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
    const a = this.tracker.after;
    return a ? `${a.instance}:${a.seq}` : null;
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
      const after = this.tracker.after;
      const req: QueryRequest = { mode: 'dump+follow' };
      if (after) req.after = `${after.instance}:${after.seq}`;
      let sock: net.Socket;
      try {
        sock = await connectQuery(this.o.socket, requestLine(req));
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
      this.queue = [];
      this.qi = this.batchQi = 0;
      let why = 'memlogd closed the connection';
      try {
        await readLines(sock, (lines) => this.onLines(lines), true);
      } catch (err) {
        why = (err as Error).message;
      }
      sock.destroy();
      this.sock = null;
      if (this.stopped) break;
      // Whatever was queued is asked for again on the next connection (the tracker is at its start).
      if (this.qi > this.batchQi) this.abandonBatch();
      this.queue = [];
      this.qi = this.batchQi = 0;
      this.setConn('waiting', `lost the connection to memlogd (${why}); reconnecting`);
      await this.sleep(this.backoff.next());
    }
    await this.shutdown();
  }

  private onLines(lines: string[]): void {
    if (this.qi === this.queue.length) {
      this.queue = lines;
      this.qi = this.batchQi = 0;
    } else for (const l of lines) this.queue.push(l);
    if (this.blocked) {
      this.sock?.pause();
      return;
    }
    this.process();
  }

  /** Processes the queue; a disk refusal rolls the batch back and pauses reading. */
  private process(): void {
    this.beginBatch();
    try {
      while (this.qi < this.queue.length && !this.stopped) {
        let rec: V2Record;
        try {
          const line = this.queue[this.qi];
          rec = fastEntry(line) ?? parseRecord(line);
        } catch (err) {
          this.protocolTrouble((err as Error).message);
          break;
        }
        if (rec.type === undefined && this.tracker.simple(rec)) {
          this.write(rec.source, formatEntry(rec.time, rec.source, rec.msg, rec.seq, this.o.format));
          this.tracker.consumed(rec);
          this.qi++;
          continue;
        }
        const steps = this.plan(rec);
        if (steps === null) break; // error record: the connection is being closed
        for (const s of steps) this.step(s);
        this.qi++;
      }
      this.endBatch();
      if (this.qi >= this.queue.length) {
        this.queue = [];
        this.qi = this.batchQi = 0;
      }
    } catch (err) {
      if (!isDiskError(err)) throw err;
      this.diskTrouble(err);
    }
  }

  private plan(rec: V2Record): Step[] | null {
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

  private protocolTrouble(msg: string): void {
    if (this.protocolSaid !== msg) this.o.log(msg);
    this.protocolSaid = msg;
    this.connState = 'waiting';
    this.queue.length = this.qi; // nothing after it is read
    this.sock?.destroy();
  }

  private formatOut(out: Out): string {
    if (out.kind === 'line') return formatLine(out.line, this.o.format);
    const instance = out.instance !== undefined ? out.instance : this.tracker.instance;
    return formatGap(out.gap, instance, Date.now(), this.o.format, out.note);
  }

  private baseFor(source: string): Base {
    let b = this.baseOf.get(source);
    if (!b) {
      b = this.files.base(fileBase(source));
      this.baseOf.set(source, b);
    }
    return b;
  }

  private step(s: Step): void {
    if (s.out) this.write(s.out.kind === 'line' ? s.out.line.source : s.source, this.formatOut(s.out));
    s.apply();
  }

  /** Buffers one formatted line for a source's file (rotating, registering, capping first). */
  private write(source: string, text: string): void {
    const n = text.length; // byte length below when not ASCII
    const b = this.baseFor(source);
    const bytes = isAscii(text) ? n : Buffer.byteLength(text);
    this.makeRoom(b, bytes);
    this.files.buffer(b, text, bytes);
    this.linesWritten++;
    if (this.o.fsync.mode === 'line') {
      this.files.flush();
      this.files.fsyncOne(b);
    }
  }

  /** Everything a line for b needs before it is buffered: an open, registered file with room. */
  private makeRoom(b: Base, n: number): void {
    for (let guard = 0; guard < 1000; guard++) {
      if (b.fd === null) this.files.openCurrent(b);
      if (b.regIno !== b.ino) {
        // A file the state file does not name yet: name it before writing (a crash then cuts it back).
        this.cleanPoint(true);
        continue;
      }
      if (this.files.wouldOverflow(b, n)) {
        this.cleanPoint(true);
        this.files.rotate(b);
        continue;
      }
      if (this.files.overCap(n) && !this.files.trimRotated(n)) {
        const other = this.files.oldestOtherCurrent(b);
        if (other) {
          this.cleanPoint(false);
          this.files.deleteCurrent(other);
          continue;
        }
        if (b.size + b.partBytes > 0) {
          this.cleanPoint(true);
          this.files.rotate(b);
          continue;
        }
      }
      return;
    }
    throw new Error(`logwrite: no room for a line of ${b.name}`);
  }

  private beginBatch(): void {
    this.batchQi = this.qi;
    this.batchPos = this.tracker.snapshot();
  }

  /** Writes the batch; it is then part of the position. */
  private endBatch(): void {
    const t = this.tracker;
    if (t.duplicates + t.unreported > this.anomalies) {
      this.o.log(`memlogd does not follow the protocol: ${t.duplicates} entries sent again or out of order (not written), `
        + `${t.unreported} entries skipped without a gap record (written as gap lines)`);
      this.anomalies = t.duplicates + t.unreported;
    }
    const n = this.files.flush();
    this.files.commit();
    this.beginBatch();
    if (n > 0) {
      if (this.blockedSaid) {
        this.o.log(`writing to ${this.o.logDir} again`);
        this.blockedSaid = false;
      }
      this.diskBackoff.reset();
    }
    if (this.o.fsync.mode === 'line') this.checkpoint(true);
    else this.armCheckpoint();
  }

  /**
   * A point where the files and the tracker agree (the current step not applied yet): flush,
   * write the state (registering every open file), start a new batch here.
   */
  private cleanPoint(writeState: boolean): void {
    this.files.flush();
    this.files.commit();
    // The files now hold exactly what the tracker consumed: a rollback comes back here.
    this.batchQi = this.qi;
    this.batchPos = this.tracker.snapshot();
    if (writeState) this.checkpoint(true);
  }

  /** Writes the state file (after fsync of the data, unless --fsync never). */
  private checkpoint(force = false): void {
    const sync = this.o.fsync.mode !== 'never';
    if (sync) this.files.fsyncAll();
    const table = this.files.table();
    const state: State = { version: STATE_VERSION, ...this.tracker.position(), files: table };
    const text = JSON.stringify(state);
    if (!force && text === this.lastState) return;
    if (text !== this.lastState) {
      try {
        writeState(this.o.logDir, this.files.dirFd, state, sync);
      } catch (err) {
        throw isDiskError(err) && !(err instanceof DiskError) ? new DiskError((err as NodeJS.ErrnoException).code!, 'logwrite.state', err) : err;
      }
      this.lastState = text;
    }
    this.files.markRegistered(table);
  }

  private armCheckpoint(): void {
    if (this.checkpointTimer || this.stopped) return;
    const ms = this.o.fsync.mode === 'interval' ? this.o.fsync.ms : 1000;
    this.checkpointTimer = setTimeout(() => {
      this.checkpointTimer = null;
      if (this.blocked || this.stopped) return;
      try {
        this.checkpoint();
      } catch (err) {
        if (!isDiskError(err)) throw err;
        this.diskTrouble(err);
      }
    }, ms);
  }

  /** Queued records from batchQi on are dropped (they will be read again): back to the batch start. */
  private abandonBatch(): void {
    this.files.rollback();
    this.tracker.restore(this.batchPos);
    this.qi = this.batchQi;
  }

  private diskTrouble(err: Error & { code?: string }): void {
    this.abandonBatch();
    const first = !this.blocked;
    this.blocked = err instanceof DiskError ? err : new DiskError(err.code ?? 'EIO', this.o.logDir, err);
    if (!this.blockedSaid) {
      this.o.log(`cannot write to ${this.o.logDir}: ${err.message}; holding the position in memlogd and retrying`);
      this.blockedSaid = true;
    }
    this.sock?.pause();
    if (first || !this.retryTimer) this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.stopped) return;
      this.blocked = null;
      try {
        this.checkpoint();
      } catch (err) {
        if (!isDiskError(err)) throw err;
        this.diskTrouble(err);
        return;
      }
      if (this.qi < this.queue.length) this.process();
      if (!this.blocked) this.sock?.resume();
    }, this.diskBackoff.next());
  }

  private async shutdown(): Promise<void> {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.checkpointTimer) clearTimeout(this.checkpointTimer);
    this.retryTimer = this.checkpointTimer = null;
    if (this.qi > this.batchQi || this.files.buffered > 0) this.abandonBatch();
    try {
      this.files.flush();
      this.files.commit();
      this.checkpoint();
    } catch (err) {
      // The files are as the last state says, or cut back to it at the next start.
      this.o.log(`cannot write the state at exit: ${(err as Error).message}`);
    }
    await this.files.close();
    await new Promise<void>((r) => this.lock.close(() => r()));
  }

  /** Waits until background compression is done (tests, benchmarks). */
  compressionIdle(): Promise<void> {
    return this.files.compressionIdle();
  }
}

/** Errors at start that are waited out: the disk is full, read-only or failing right now. */
const RETRY_OPEN = new Set(['EROFS', 'ENOSPC', 'EDQUOT', 'EIO', 'EBUSY']);

/** Runs logwrite until signal aborts (SIGTERM in cmd/logwrite.ts); resolves after a clean exit. */
export async function logwrite(opts: LogwriteOptions, signal?: AbortSignal): Promise<void> {
  // A directory on a disk that is full or read-only (not remounted yet) is waited for.
  const log = opts.log ?? ((m: string) => process.stderr.write(`logwrite: ${m}\n`));
  const backoff = new Backoff(opts.backoffMinMs ?? LOGWRITE_DEFAULTS.backoffMinMs, opts.backoffMaxMs ?? LOGWRITE_DEFAULTS.backoffMaxMs);
  let lw: Logwriter;
  let said = false;
  for (;;) {
    try {
      lw = await Logwriter.open(opts);
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (!RETRY_OPEN.has(code) || signal?.aborted) throw err;
      if (!said) log(`cannot use ${opts.logDir ?? LOGWRITE_DEFAULTS.logDir}: ${(err as Error).message}; retrying`);
      said = true;
      await sleep(backoff.next(), signal);
      if (signal?.aborted) return;
    }
  }
  if (signal) {
    if (signal.aborted) lw.stop();
    else signal.addEventListener('abort', () => lw.stop(), { once: true });
  }
  await lw.run();
}

export { ProtocolError };
