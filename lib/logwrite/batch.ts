// logwrite's write path: the records received from memlogd, processed in batches. A batch is
// written to its files whole and then becomes part of the position; if the disk refuses any of
// it, the files are cut back to where the batch began, the tracker returns there, reading pauses,
// and the same records are tried again with backoff. So the files never hold a line the
// position does not account for, and a full disk loses nothing memlogd still holds.

import { Backoff } from '../client/backoff.js';
import { DiskError } from '../protocol/errors.js';
import { decodeRecord, type V2Record } from '../protocol/v2.js';
import type { Base } from './base.js';
import type { Checkpoints } from './checkpoint.js';
import { isDiskError } from './disk.js';
import type { LogFiles } from './files.js';
import { formatEntry, formatGap, formatLine } from './format.js';
import { fileBase } from './names.js';
import type { LogwriteSettings } from './options.js';
import { makeRoom } from './room.js';
import type { Out, Step, Tracker } from '../client/tracker.js';

const NON_ASCII = /[^\x00-\x7f]/;
const isAscii = (s: string) => !NON_ASCII.test(s);

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
  // The batch being written: records queue[qi...] are not processed yet; the batch began at
  // record batchQi with the tracker in batchPos (what a rollback returns to).
  private queue: string[] = [];
  private qi = 0;
  private batchQi = 0;
  private batchPos: ReturnType<Tracker['snapshot']>;
  private readonly baseOf = new Map<string, Base>();

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
    this.qi = this.batchQi = 0;
  }

  /** The connection is gone: whatever was queued is asked for again on the next one. */
  dropQueued(): void {
    if (this.qi > this.batchQi) this.abandonBatch();
    this.reset();
  }

  /** Nothing after the record being processed will be read (the connection is being closed). */
  discardRest(): void {
    this.queue.length = this.qi;
  }

  /** Records from memlogd, in order. */
  push(lines: string[]): void {
    if (this.qi === this.queue.length) {
      this.queue = lines;
      this.qi = this.batchQi = 0;
    } else for (const l of lines) this.queue.push(l);
    if (this.blocked) {
      this.host.pause();
      return;
    }
    this.process();
  }

  /** Processes the queue; a disk refusal rolls the batch back and pauses reading. */
  private process(): void {
    this.beginBatch();
    try {
      while (this.qi < this.queue.length && !this.host.stopped) {
        let rec: V2Record;
        try {
          rec = decodeRecord(this.queue[this.qi]);
        } catch (err) {
          this.host.protocolTrouble((err as Error).message);
          break;
        }
        if (rec.type === undefined && this.tracker.simple(rec)) {
          this.write(rec.source, formatEntry(rec.time, rec.source, rec.msg, rec.seq, this.o.format));
          this.tracker.consumed(rec);
          this.qi++;
          continue;
        }
        const steps = rec.type === undefined ? this.tracker.entry(rec) : this.host.plan(rec);
        if (steps === null) break; // error record: the connection is being closed
        for (const s of steps) this.step(s);
        this.qi++;
      }
      this.endBatch();
      if (this.qi >= this.queue.length) this.reset();
    } catch (err) {
      if (!isDiskError(err)) throw err;
      this.diskTrouble(err);
    }
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
    const b = this.baseFor(source);
    const bytes = isAscii(text) ? text.length : Buffer.byteLength(text);
    makeRoom(this.files, b, bytes, (writeState) => this.cleanPoint(writeState));
    this.files.buffer(b, text, bytes);
    this.linesWritten++;
    if (this.o.fsync.mode === 'line') {
      this.files.flush();
      this.files.fsyncOne(b);
    }
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
    this.batchQi = this.qi;
    this.batchPos = this.tracker.snapshot();
    if (writeState) this.checkpoints.write(true);
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
      if (this.qi < this.queue.length) this.process();
      if (!this.blocked) this.host.resume();
    }, this.diskBackoff.next());
  }

  /** At exit: what is not written whole is dropped (read again next time), the state written. */
  shutdown(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.checkpoints.cancel();
    if (this.qi > this.batchQi || this.files.buffered > 0) this.abandonBatch();
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
