// logwrite's write path: the records received from memlogd, processed in batches. A batch is
// written to its files whole and then becomes part of the position; if the disk refuses any of
// it, the files are cut back to where the batch began, the tracker returns there, reading pauses,
// and the same records are tried again with backoff. So the files never hold a line the
// position does not account for, and a full disk loses nothing memlogd still holds.
//
// Records arrive as chunks of bytes. The common entry (a whole line, next in sequence, nothing
// being joined for its source, no escapes) is written from those bytes without a string being
// made (entry-bytes.ts); every other record is decoded and planned by the tracker.

import { Backoff } from '../client/backoff.js';
import { DiskError } from '../protocol/errors.js';
import { decodeRecord, type V2Record } from '../protocol/v2.js';
import type { Base } from './base.js';
import type { Checkpoints } from './checkpoint.js';
import { isDiskError } from './disk.js';
import { entryBytes, type EntryBytes } from './entry-bytes.js';
import type { LogFiles } from './files.js';
import { formatEntry, formatGap, formatLine } from './format.js';
import { fileBase } from './names.js';
import type { LogwriteSettings } from './options.js';
import { makeRoom } from './room.js';
import type { Out, Step, Tracker } from './tracker.js';

const NON_ASCII = /[^\x00-\x7f]/;
const isAscii = (s: string) => !NON_ASCII.test(s);
const NL = 0x0a;
const BACKSLASH = 0x5c;

/** buf[at, at + p.length) holds the bytes of p (a short name: a loop beats a native call). */
function sameBytes(buf: Buffer, at: number, p: Buffer): boolean {
  for (let k = 0; k < p.length; k++) if (buf[at + k] !== p[k]) return false;
  return true;
}

/** What the batch writer needs from the connection that feeds it. */
export interface BatchHost {
  /** The steps of a record that is not a plain entry; null: stop (an error record). */
  plan(rec: V2Record): Step[] | null;
  /** A record could not be read: the connection is given up. */
  protocolTrouble(msg: string): void;
  /** Stop or resume reading from memlogd (the disk refused, or takes writes again). */
  pause(): void;
  resume(): void;
  readonly stopped: boolean;
}

export class BatchWriter {
  // The batch being written. queue holds chunks of complete lines; the next record to process
  // starts at queue[qi] offset qoff; the batch began at (batchQi, batchOff) with the tracker in
  // batchPos (what a rollback returns to).
  private queue: Buffer[] = [];
  private qi = 0;
  private qoff = 0;
  private batchQi = 0;
  private batchOff = 0;
  private batchPos: ReturnType<Tracker['snapshot']>;
  /** The unfinished last line of the last chunk received. */
  private carry: Buffer | null = null;
  private readonly baseOf = new Map<string, Base>();
  // The source of the last fast entry and its base: consecutive lines are mostly of one source.
  private lastSource: Buffer | null = null;
  private lastBase: Base | null = null;
  private readonly parts: EntryBytes = { seq: 0, t0: 0, t1: 0, s0: 0, s1: 0, m0: 0, m1: 0, stdout: false };

  // Disk trouble: writing paused, retried with backoff.
  private blocked: DiskError | null = null;
  private blockedSaid = false;
  private readonly diskBackoff: Backoff;
  private retryTimer: NodeJS.Timeout | null = null;

  /** Protocol anomalies already reported. */
  private anomalies = 0;
  /** Lines written (for tests and benchmarks). */
  linesWritten = 0;

  constructor(private readonly o: LogwriteSettings, private readonly files: LogFiles, private readonly tracker: Tracker,
    private readonly checkpoints: Checkpoints, private readonly host: BatchHost) {
    this.diskBackoff = new Backoff(Math.max(o.backoffMinMs, 200), o.backoffMaxMs);
    this.batchPos = tracker.snapshot();
  }

  /** A new connection: nothing queued. */
  reset(): void {
    this.queue = [];
    this.qi = this.qoff = this.batchQi = this.batchOff = 0;
    this.carry = null;
  }

  private get pendingRecords(): boolean {
    return this.qi < this.queue.length;
  }

  private get batchStarted(): boolean {
    return this.qi !== this.batchQi || this.qoff !== this.batchOff;
  }

  /** The connection is gone: whatever was queued is asked for again on the next one. */
  dropQueued(): void {
    if (this.batchStarted) this.abandonBatch();
    this.reset();
  }

  /** Nothing after the record being processed will be read (the connection is being closed). */
  discardRest(): void {
    if (this.qi < this.queue.length) {
      const nl = this.queue[this.qi].indexOf(NL, this.qoff);
      this.queue[this.qi] = this.queue[this.qi].subarray(0, nl + 1);
      this.queue.length = this.qi + 1;
    }
    this.carry = null;
  }

  /** Bytes from memlogd, in order (a line may continue in the next chunk). */
  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.carry) {
      // the carried line is completed on its own: the chunk itself is not copied
      const nl = chunk.indexOf(NL);
      if (nl < 0) {
        this.carry = Buffer.concat([this.carry, chunk]);
        return;
      }
      this.enqueue(Buffer.concat([this.carry, chunk.subarray(0, nl + 1)]));
      this.carry = null;
      buf = chunk.subarray(nl + 1);
    }
    const last = buf.lastIndexOf(NL);
    if (last + 1 < buf.length) this.carry = Buffer.from(buf.subarray(last + 1));
    if (last >= 0) this.enqueue(buf.subarray(0, last + 1));
    if (this.blocked) {
      this.host.pause();
      return;
    }
    this.process();
  }

  private enqueue(lines: Buffer): void {
    if (this.qi === this.queue.length) {
      this.queue = [];
      this.qi = this.qoff = this.batchQi = this.batchOff = 0;
    }
    this.queue.push(lines);
  }

  /** Processes the queue; a disk refusal rolls the batch back and pauses reading. */
  private process(): void {
    this.beginBatch();
    try {
      while (this.qi < this.queue.length && !this.host.stopped) {
        const buf = this.queue[this.qi];
        // one search per chunk: lines before the next backslash cannot hold an escape
        let nextBs = buf.indexOf(BACKSLASH, this.qoff);
        while (this.qoff < buf.length && !this.host.stopped) {
          const s = this.qoff;
          const nl = buf.indexOf(NL, s);
          if (nextBs >= 0 && nextBs < s) nextBs = buf.indexOf(BACKSLASH, s);
          if (entryBytes(buf, s, nl, nextBs >= 0 && nextBs < nl, this.parts) && this.fastEntry(buf, s, nl)) {
            this.qoff = nl + 1;
            continue;
          }
          let rec: V2Record;
          try {
            rec = decodeRecord(buf.toString('utf8', s, nl));
          } catch (err) {
            this.host.protocolTrouble((err as Error).message);
            break;
          }
          if (rec.type === undefined && this.tracker.simple(rec)) {
            this.write(rec.source, formatEntry(rec, this.o.format));
            this.tracker.consumed(rec);
            this.qoff = nl + 1;
            continue;
          }
          const steps = rec.type === undefined ? this.tracker.entry(rec) : this.host.plan(rec);
          if (steps === null) break; // error record: the connection is being closed
          for (const st of steps) this.step(st);
          this.qoff = nl + 1;
        }
        if (this.qoff < buf.length) break; // stopped, or the connection is being closed
        this.qi++;
        this.qoff = 0;
      }
      this.endBatch();
      if (!this.pendingRecords) {
        // everything is written and part of the position: the chunks can go
        this.queue = [];
        this.qi = this.qoff = this.batchQi = this.batchOff = 0;
      }
    } catch (err) {
      if (!isDiskError(err)) throw err;
      this.diskTrouble(err);
    }
  }

  /**
   * The common entry (this.parts, found in buf[s, e)): written from its bytes when it is the next
   * in sequence and nothing is being joined for its source. False: take the general path.
   */
  private fastEntry(buf: Buffer, s: number, e: number): boolean {
    const p = this.parts;
    const t = this.tracker;
    if (p.seq !== t.seq + 1 || !t.plain) return false;
    const b = this.baseForBytes(buf, p.s0, p.s1);
    if (b === null) return false; // a source being joined (or memlogd's own): the general path
    const text = this.o.format === 'text';
    // text: `<time to the second>Z <source> <msg>\n` (the time is RFC3339 with `Z`: cut at 19)
    if (text && (p.t1 - p.t0 < 20 || (buf[p.t0 + 19] !== 0x2e && buf[p.t0 + 19] !== 0x5a))) return false;
    const n = text ? 20 + 1 + (p.s1 - p.s0) + 1 + (p.m1 - p.m0) + 1 : e - s + 1;
    makeRoom(this.files, b, n, this.cleanPointFn);
    const at = this.files.reserve(b, n);
    const out = b.pend!;
    if (text) {
      // `<time>Z <source> ` is the same for the lines of a chunk (one receive time, one source):
      // kept as one buffer and set whole (a whole-buffer set allocates nothing; a range copy does)
      const pfx = this.textPrefix(buf, p.t0, b, p.s0, p.s1);
      out.set(pfx, at);
      const o = at + pfx.length + buf.copy(out, at + pfx.length, p.m0, p.m1);
      out[o] = NL;
    } else {
      // a whole entry without escapes is exactly what --format json writes for it
      buf.copy(out, at, s, e);
      out[at + e - s] = NL;
    }
    t.seq = p.seq;
    this.linesWritten++;
    if (this.o.fsync.mode === 'line') {
      this.files.flush();
      this.files.fsyncOne(b);
    }
    return true;
  }

  /** `<time to the second>Z <source> ` for a text line, reused while time and source stay. */
  private textPrefix(buf: Buffer, t0: number, b: Base, s0: number, s1: number): Buffer {
    const pfx = this.pfx;
    if (pfx !== null && this.pfxBase === b) {
      let same = true;
      for (let k = 0; k < 19; k++) {
        if (pfx[k] !== buf[t0 + k]) {
          same = false;
          break;
        }
      }
      if (same) return pfx;
    }
    const next = Buffer.allocUnsafe(19 + 2 + (s1 - s0) + 1);
    buf.copy(next, 0, t0, t0 + 19);
    next[19] = 0x5a; // Z
    next[20] = 0x20;
    buf.copy(next, 21, s0, s1);
    next[next.length - 1] = 0x20;
    this.pfx = next;
    this.pfxBase = b;
    return next;
  }

  private pfx: Buffer | null = null;
  private pfxBase: Base | null = null;
  private readonly cleanPointFn = (writeState: boolean) => this.cleanPoint(writeState);

  /** The base of the source whose name is buf[s0, s1), or null when its lines are being joined. */
  private baseForBytes(buf: Buffer, s0: number, s1: number): Base | null {
    const last = this.lastSource;
    if (last !== null && last.length === s1 - s0 && sameBytes(buf, s0, last)) {
      return this.tracker.pending.size > 0 && this.tracker.pending.has(this.lastName) ? null : this.lastBase;
    }
    const name = buf.toString('utf8', s0, s1);
    if (this.tracker.pending.size > 0 && this.tracker.pending.has(name)) return null;
    this.lastSource = Buffer.from(buf.subarray(s0, s1));
    this.lastName = name;
    this.lastBase = this.baseFor(name);
    return this.lastBase;
  }

  private lastName = '';

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
    const b = this.baseFor(source);
    const bytes = isAscii(text) ? text.length : Buffer.byteLength(text);
    makeRoom(this.files, b, bytes, this.cleanPointFn);
    this.files.buffer(b, text, bytes);
    this.linesWritten++;
    if (this.o.fsync.mode === 'line') {
      this.files.flush();
      this.files.fsyncOne(b);
    }
  }

  private beginBatch(): void {
    this.batchQi = this.qi;
    this.batchOff = this.qoff;
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
    if (this.o.fsync.mode === 'line') this.checkpoints.write(true);
    else if (!this.host.stopped) this.checkpoints.arm(() => this.intervalCheckpoint());
  }

  private intervalCheckpoint(): void {
    if (this.blocked || this.host.stopped) return;
    try {
      this.checkpoints.write();
    } catch (err) {
      if (!isDiskError(err)) throw err;
      this.diskTrouble(err);
    }
  }

  /**
   * A point where the files and the tracker agree (the current step not applied yet): flush,
   * write the state (registering every open file), start a new batch here.
   */
  private cleanPoint(writeState: boolean): void {
    this.files.flush();
    this.files.commit();
    // The files now hold exactly what the tracker consumed: a rollback comes back here.
    this.beginBatch();
    if (writeState) this.checkpoints.write(true);
  }

  /** Queued records from batchQi on are dropped (they will be read again): back to the batch start. */
  private abandonBatch(): void {
    this.files.rollback();
    this.tracker.restore(this.batchPos);
    this.qi = this.batchQi;
    this.qoff = this.batchOff;
  }

  private diskTrouble(err: Error & { code?: string }): void {
    this.abandonBatch();
    const first = !this.blocked;
    this.blocked = err instanceof DiskError ? err : new DiskError(err.code ?? 'EIO', this.o.logDir, err);
    if (!this.blockedSaid) {
      this.o.log(`cannot write to ${this.o.logDir}: ${err.message}; holding the position in memlogd and retrying`);
      this.blockedSaid = true;
    }
    this.host.pause();
    if (first || !this.retryTimer) this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.host.stopped) return;
      this.blocked = null;
      try {
        this.checkpoints.write();
      } catch (err) {
        if (!isDiskError(err)) throw err;
        this.diskTrouble(err);
        return;
      }
      if (this.pendingRecords) this.process();
      if (!this.blocked) this.host.resume();
    }, this.diskBackoff.next());
  }

  /** At exit: what is not written whole is dropped (read again next time), the state written. */
  shutdown(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.checkpoints.cancel();
    if (this.batchStarted || this.files.buffered > 0) this.abandonBatch();
    try {
      this.files.flush();
      this.files.commit();
      this.checkpoints.write();
    } catch (err) {
      // The files are as the last state says, or cut back to it at the next start.
      this.o.log(`cannot write the state at exit: ${(err as Error).message}`);
    }
  }
}
