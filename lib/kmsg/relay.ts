// kmsg: relays the kernel log into memlogd, one kernel record as one line, with its level, its
// dictionary attached and a correct wall time (clock.ts). What it fixes from the reference and
// from the relays users keep reporting about: a record overwritten before it was read is counted
// and reported (from the sequence numbers, not only from EPIPE, which never stops it); a restart
// adds no duplicates (the state file); the replay is explicit: the whole ring at the first start
// after boot, only what is new after that, or as a flag forces.

import fs from 'node:fs';
import { KmsgReader, openKmsg, KMSG_PATH } from './device.js';
import { KernelClock } from './clock.js';
import { formatLoss, formatRecord } from './format.js';
import { parseRecord, splitRecords, type KmsgRecord } from './record.js';
import { readBootId, readState, writeState } from './state.js';

export type Replay = 'auto' | 'all' | 'new';

export interface RelayOptions {
  /** The device (default /dev/kmsg); ignored with file. */
  device?: string;
  /** Read a recording (what `cat /dev/kmsg` prints) to its end instead of the device. */
  file?: string;
  /** State file (next sequence number and boot id); null: none. */
  state?: string | null;
  /** auto: the whole ring at the first start after boot, then only new records; all / new: forced. */
  replay?: Replay;
  /** Attach dictionary entries to their line (default), or leave them out. */
  dict?: boolean;
  /** Start each line with its priority as `<N>` (memlogd's --level-prefix takes it off). */
  prefix?: boolean;
  /** Where lines go; resolves once they were taken (the state then moves past them). */
  write: (text: string) => Promise<void> | void;
  /** One-line notices about kmsg itself (default: stderr). */
  notice?: (msg: string) => void;
  clock?: KernelClock;
  signal?: AbortSignal;
}

/** The relay's position: which records are wanted and what comes next. */
export class Position {
  /** Records below this were relayed before (state) or are not wanted (replay new). */
  skipBelow: number;
  /** The next sequence number expected; null: none yet (a gap before the first is not a loss). */
  expected: number | null;

  constructor(replay: Replay, stateNext: number | null) {
    if (replay === 'all') {
      this.skipBelow = 0;
      this.expected = 0;
    } else if (replay === 'new') {
      this.skipBelow = Infinity; // until the initial records are read
      this.expected = null;
    } else if (stateNext !== null) {
      this.skipBelow = stateNext;
      this.expected = stateNext;
    } else {
      this.skipBelow = 0;
      this.expected = 0;
    }
  }

  /** What to do with a record: the range lost before it (if any), and whether to relay it. */
  take(seq: number): { lost: [number, number] | null; relay: boolean } {
    if (seq < 0) return { lost: null, relay: true }; // a record without a sequence number (a recording)
    let lost: [number, number] | null = null;
    if (this.expected !== null && seq > this.expected && seq >= this.skipBelow) lost = [Math.max(this.expected, this.skipBelow), seq - 1];
    if (this.expected === null || seq + 1 > this.expected) this.expected = seq + 1;
    return { lost, relay: seq >= this.skipBelow };
  }

  /** The initial records are read (replay new): relay everything from next on. */
  liveFrom(next: number | null): void {
    if (this.skipBelow === Infinity) this.skipBelow = next ?? 0;
  }

  /** Reading starts again from the first record the kernel holds: skip what was relayed. */
  resume(): void {
    if (this.expected !== null) this.skipBelow = Math.max(this.skipBelow === Infinity ? 0 : this.skipBelow, this.expected);
  }

  /** What happens to the records the kernel holds at the start, in words. */
  describe(recs: KmsgRecord[]): string {
    const relayed = recs.filter((r) => r.seq < 0 || r.seq >= this.skipBelow).length;
    const skipped = recs.length - relayed;
    return `${recs.length} records held, ${relayed} to relay${skipped ? `, ${skipped} relayed before or not wanted` : ''}`;
  }

  copy(): Position {
    return Object.assign(Object.create(Position.prototype) as Position, this);
  }
}

export class Relay {
  private readonly clock: KernelClock;
  private readonly notice: (m: string) => void;
  private readonly bootId: string;
  private pos: Position;
  private saved = -1;
  lines = 0;
  lost = 0;

  constructor(private readonly o: RelayOptions) {
    this.clock = o.clock ?? new KernelClock();
    this.notice = o.notice ?? ((m) => process.stderr.write(`kmsg: ${m}\n`));
    let bootId = '';
    try {
      bootId = readBootId();
    } catch (err) {
      this.notice(`cannot read the boot id (${(err as Error).message}); a state file is not used`);
    }
    this.bootId = bootId;
    const state = o.state && bootId ? readState(o.state, bootId, this.notice) : null;
    this.pos = new Position(o.replay ?? 'auto', state?.nextSeq ?? null);
  }

  /** Relays a batch of records read now (live: as they arrived) and saves the state after them. */
  async batch(recs: KmsgRecord[], live: boolean): Promise<void> {
    if (recs.length === 0) return;
    this.clock.refresh();
    const now = this.clock.now();
    const before = this.pos.copy();
    let text = '';
    for (const rec of recs) {
      const { lost, relay } = this.pos.take(rec.seq);
      if (lost) {
        this.lost += lost[1] - lost[0] + 1;
        text += formatLoss(lost[0], lost[1], now, this.o.prefix === true) + '\n';
      }
      if (!relay) continue;
      text += formatRecord(rec, this.clock.wallTime(rec.tsUsec, live, now), this.o.dict !== false, this.o.prefix === true) + '\n';
      this.lines++;
    }
    if (text) {
      try {
        await this.o.write(text);
      } catch (err) {
        this.pos = before; // not delivered: relayed again after a restart of the output
        throw err;
      }
    }
    this.save();
  }

  /** Before reading the device again (after the output failed): skip what was relayed already. */
  resume(): void {
    this.pos.resume();
  }

  /** Records written: the state moves past them. */
  private save(): void {
    const next = this.pos.expected;
    if (!this.o.state || !this.bootId || next === null || next === this.saved) return;
    try {
      writeState(this.o.state, { bootId: this.bootId, nextSeq: next });
      this.saved = next;
    } catch (err) {
      this.notice(`cannot write state ${this.o.state}: ${(err as Error).message}`);
    }
  }

  /** Reads a recording to its end. */
  async runFile(file: string): Promise<void> {
    const data = fs.readFileSync(file);
    const recs = splitRecords(data).map(([s, e]) => parseRecord(data, s, e));
    const last = recs.length > 0 ? recs[recs.length - 1].seq : -1;
    this.pos.liveFrom(last >= 0 ? last + 1 : this.pos.expected);
    await this.batch(recs, false);
  }

  /** Follows the device until the signal aborts; rejects when reading or writing fails. */
  runDevice(device = KMSG_PATH, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      let pending: KmsgRecord[] = [];
      let live = false;
      let chain = Promise.resolve();
      let done = false;
      const finish = (err?: Error) => {
        if (done) return;
        done = true;
        reader.close();
        signal?.removeEventListener('abort', onAbort);
        chain.then(() => (err ? reject(err) : resolve()), reject);
      };
      // Each wake-up's records go out as one batch, in order, one batch at a time.
      const flush = () => {
        const recs = pending;
        pending = [];
        const wasLive = live;
        chain = chain.then(() => this.batch(recs, wasLive)).catch((err) => {
          finish(err as Error);
        });
      };
      const reader = new KmsgReader(openKmsg(device), {
        record: (rec) => pending.push(rec),
        overrun: () => {}, // the sequence numbers say how many: the loss line reports them
        error: (err) => finish(err),
        batchEnd: flush,
      });
      const onAbort = () => finish();
      // The records there now: the replay (or, with replay new, what is skipped).
      reader.drain(Infinity);
      const last = pending.length > 0 ? pending[pending.length - 1].seq : -1;
      this.pos.liveFrom(last >= 0 ? last + 1 : this.pos.expected);
      this.notice(`reading ${device}: ${this.pos.describe(pending)}`);
      flush();
      live = true;
      if (signal?.aborted) return finish();
      signal?.addEventListener('abort', onAbort, { once: true });
      if (!done) reader.start();
    });
  }
}
