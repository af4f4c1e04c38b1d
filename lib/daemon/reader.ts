// A query reader: a cursor (a sequence number) into the shared store, never a copy of it.
//
// It encodes entries straight from the store into a batch buffer shared by all readers (encoding
// and sending are synchronous) and sends it with a non-blocking write; only when the socket is
// full does it keep a copy of the unsent rest, and wait for writability while the store moves on
// without it. So a reader that keeps up holds no memory of its own, a slow one at most one batch,
// and neither ever blocks a producer. If a reader falls so far behind that entries it has not
// read are gone, it is told: a gap record, saying whose they were (per source: the store knows
// the source of a dead entry it still holds, and its drop log that of one it no longer holds).

import { gapMessageV1 } from '../protocol/gap.js';
import { V1Encoder } from '../protocol/v1.js';
import { V2Encoder, encodeEnd, encodeError, encodeGap, type GapReason } from '../protocol/v2.js';
import type { ReaderStats } from '../protocol/stats.js';
import type { QueryRequest } from '../protocol/v2.js';
import { UNKNOWN_SOURCE } from './drops.js';
import { Filter } from './filter.js';
import type { NameCache } from './names.js';
import type { Store } from './store.js';

/** Output batch per socket write (bytes); one batch is all a reader may hold in memlogd. */
const BATCH_BYTES = 64 * 1024;
/**
 * Readers encode into their store's scratch buffer (shared by all of them: encoding and sending
 * are synchronous), which lives next to the arena so messages are copied by SIMD. An entry too
 * large for it goes through this plain buffer instead, grown as needed.
 */
let oversize = Buffer.alloc(0);
/**
 * Room kept at the end of a batch for a gap and the end record. A gap naming many sources can be
 * larger: the batch then grows for it (see room()).
 */
const RESERVE = 2048;

/** Where a reader's bytes go: a connected socket, written without blocking. */
export interface Sink {
  /** Writes buf[from, to); returns bytes taken, null if none fit now; throws if the peer is gone. */
  write(buf: Buffer, from: number, to: number): number | null;
  /** Asks for (or cancels) a pump() call when the sink has room again. */
  wantWritable(on: boolean): void;
  /** Everything was sent (a dump is complete): release the connection. */
  close(): void;
}

export interface ReaderOptions {
  /** First sequence number wanted (store.oldestSeq for a dump, store.nextSeq to follow). */
  fromSeq: number;
  /** Stop before this sequence number (a dump); Infinity to follow forever. */
  untilSeq: number;
  /** Clock for gap records (now, as [sec, nsec]). */
  now: () => [number, number];
  /** Protocol v2 records (seq, stream, typed gap/end records) instead of v1 entries. */
  v2?: boolean;
  /** Only entries this accepts (v2 filters); null or absent: everything. */
  filter?: Filter | null;
  /** Bytes sent before anything else (v2: the start record, a restarted gap). */
  preamble?: string;
  /** For stats: what the reader asked for, and who it is. */
  mode?: string;
  pid?: number;
  uid?: number;
  /** Records one of memlogd's own events (a request ended for its cost). */
  log?: (msg: string) => void;
  /** The v2 request (a successor rebuilds the filter from it). */
  request?: QueryRequest;
  /** Continue exactly where a predecessor's reader was (graceful restart). */
  resume?: ReaderState;
}

/** Where a reader is, for its successor in a graceful restart (JSON). */
export interface ReaderState {
  nextSeq: number;
  joinSeq: number;
  /** null: following (Infinity). */
  untilSeq: number | null;
  gaps: number;
  missed: number;
  sentEntries: number;
  /** A gap being accumulated: [from, to, count, reason]. */
  gap: [number, number, number, GapReason] | null;
  /** Its entries per source id ([id, count] pairs; ids survive the restart) and those of no known source. */
  gapSources?: Array<[number, number]>;
  gapUnknown?: number;
  preamble: string | null;
  endSent: boolean;
  v2: boolean;
  request?: QueryRequest;
  mode?: string;
  pid?: number;
  uid?: number;
  /** Encoded bytes the socket had not taken yet (base64): sent first. */
  pending: string | null;
}

let nextReaderId = 1;

export class Reader {
  readonly id = nextReaderId++;
  /** Next sequence number this reader wants. */
  nextSeq: number;
  /** Sequence number when the reader arrived: entries before it that vanish were "evicted", after it "lagged". */
  readonly joinSeq: number;
  /** Stop before this sequence number (a dump); Infinity while following. */
  untilSeq: number;
  gaps = 0;
  missed = 0;
  sentEntries = 0;
  private pos = -1;
  private gen = -1;
  // A gap being accumulated (entries missed since the last one delivered): reported before the
  // next entry, or at the end of a batch.
  private gapFrom = 0;
  private gapTo = 0;
  private gapCount = 0;
  private gapReason: GapReason | null = null;
  /** The gap's entries per source id; those whose source is no longer known are not in it. */
  private readonly gapBySource = new Map<number, number>();
  private gapUnknown = 0;
  /** Entries the store's drop log accounted for in the range being asked about. */
  private dropVisited = 0;
  /** Receives the store's per-source counts of dropped entries (one closure per reader, not per gap). */
  private readonly onDropped = (src: number, n: number): void => {
    this.dropVisited += n;
    if (src === UNKNOWN_SOURCE) this.gapUnknown += n;
    else if (this.filter === null || this.filter.wantsSource(this.store, src)) this.countSource(src, n);
    else return;
    this.gapCount += n;
  };
  private preamble: string | null;
  private endSent = false;
  private readonly v2: boolean;
  private readonly filter: Filter | null;
  private readonly encoder2: V2Encoder;
  /** Encoded bytes the socket did not take yet (pending[pendFrom...]). */
  private pending: Buffer | null = null;
  private pendFrom = 0;
  private blocked = false;
  private finished = false;
  private readonly encoder: V1Encoder;
  /** The buffer the last fill() wrote into. */
  private batch: Buffer;
  /** The store's scratch up to one batch (one socket write): where fill() normally writes. */
  private readonly batchView: Buffer;

  constructor(private readonly store: Store, private readonly names: NameCache,
    private readonly sink: Sink, private readonly opts: ReaderOptions) {
    this.nextSeq = opts.fromSeq;
    this.joinSeq = store.nextSeq;
    this.untilSeq = opts.untilSeq;
    this.encoder = new V1Encoder(store.fast);
    this.encoder2 = new V2Encoder(store.fast);
    this.batch = this.batchView = store.scratch.subarray(0, Math.min(BATCH_BYTES, store.scratch.length));
    this.v2 = opts.v2 ?? false;
    this.filter = opts.filter ?? null;
    this.preamble = opts.preamble ?? null;
    const r = opts.resume;
    if (r) {
      this.joinSeq = r.joinSeq;
      this.gaps = r.gaps;
      this.missed = r.missed;
      this.sentEntries = r.sentEntries;
      if (r.gap) {
        [this.gapFrom, this.gapTo, this.gapCount, this.gapReason] = r.gap;
        for (const [src, n] of r.gapSources ?? []) this.gapBySource.set(src, n);
        // from a predecessor that did not know whose they were: not known now either
        this.gapUnknown = r.gapSources ? r.gapUnknown ?? 0 : this.gapCount;
      }
      this.endSent = r.endSent;
      if (r.pending) this.pending = Buffer.from(r.pending, 'base64');
    }
  }

  /** This reader's position and everything it owes, for a successor (it must not be pumped after). */
  exportState(): ReaderState {
    return {
      nextSeq: this.nextSeq, joinSeq: this.joinSeq, untilSeq: this.untilSeq === Infinity ? null : this.untilSeq,
      gaps: this.gaps, missed: this.missed, sentEntries: this.sentEntries,
      gap: this.gapReason ? [this.gapFrom, this.gapTo, this.gapCount, this.gapReason] : null,
      gapSources: this.gapReason ? [...this.gapBySource] : undefined, gapUnknown: this.gapReason ? this.gapUnknown : undefined,
      preamble: this.preamble, endSent: this.endSent, v2: this.v2, request: this.opts.request, mode: this.opts.mode,
      pid: this.opts.pid, uid: this.opts.uid,
      pending: this.pending ? this.pending.subarray(this.pendFrom).toString('base64') : null,
    };
  }

  /** A follower whose `until` time passed: finish like a dump, at the current end. */
  endNow(): void {
    if (this.untilSeq === Infinity) this.untilSeq = this.store.nextSeq;
    this.pump();
  }

  /** This reader as the stats request shows it. */
  describe(): ReaderStats {
    return {
      id: this.id, mode: this.opts.mode ?? (this.untilSeq === Infinity ? 'follow' : 'dump'), pid: this.opts.pid ?? -1,
      uid: this.opts.uid ?? -1, position: this.nextSeq, lag: this.lag, gaps: this.gaps, missed: this.missed, sent: this.sentEntries,
    };
  }

  /** Everything owed has been sent: a dump's entries, gaps and (v2) end record. */
  private get complete(): boolean {
    return this.nextSeq >= this.untilSeq && this.gapReason === null && (!this.v2 || this.endSent);
  }

  /** How many entries this reader is behind the newest. */
  get lag(): number {
    return Math.max(0, this.store.nextSeq - this.nextSeq);
  }

  /** Sends whatever is available, until the socket pushes back. Called after every ingest. */
  pump(): void {
    if (this.finished) return;
    try {
      for (;;) {
        if (this.pending) {
          this.pendFrom += this.sink.write(this.pending, this.pendFrom, this.pending.length) ?? 0;
          if (this.pendFrom < this.pending.length) return this.block();
          this.pending = null;
        }
        const n = this.fill();
        if (n === 0) break;
        const sent = this.sink.write(this.batch, 0, n) ?? 0;
        if (sent < n) {
          this.pending = Buffer.from(this.batch.subarray(sent, n)); // the batch buffer is the next reader's
          this.pendFrom = 0;
          return this.block();
        }
      }
    } catch {
      this.sink.close(); // the reader went away (EPIPE, ECONNRESET)
      return;
    }
    if (this.blocked) this.sink.wantWritable((this.blocked = false));
    if (this.complete) {
      // A dump is complete. Sent bytes sit in the peer's receive queue: closing now is safe.
      this.finished = true;
      this.sink.close();
    }
  }

  private block(): void {
    if (!this.blocked) this.sink.wantWritable((this.blocked = true));
  }

  /** The connection is gone: never touch the sink again. */
  stop(): void {
    this.finished = true;
  }

  /** Encodes the next entries into scratch; returns the byte count (0: nothing to send). */
  private fill(): number {
    const st = this.store;
    // Batches stop at BATCH_BYTES (one socket write); the store's scratch has room beyond that.
    this.batch = this.batchView;
    let o = 0;
    if (this.preamble !== null) {
      const text = this.preamble;
      this.preamble = null;
      o = this.room(0, Buffer.byteLength(text) + RESERVE).write(text, 0, 'utf8');
    }
    if (this.gen !== st.generation) {
      this.pos = st.lowerBound(this.nextSeq);
      this.gen = st.generation;
    }
    const { seqs, secs, nsecs, srcs, lens, offs, arena } = st;
    const joined = this.joinSeq;
    const filter = this.filter;
    while (this.pos < st.end) {
      if (o + RESERVE > this.batch.length) return o;
      const p = this.pos;
      const seq = seqs[p];
      if (seq >= this.untilSeq) break;
      if (seq > this.nextSeq) {
        // Entries [nextSeq, seq) are gone from memory. Their sources are known (the drop log),
        // their times and messages not, so those of wanted sources count; only a `since` they
        // all precede rules them out.
        if (!filter?.beforeSince(secs[p], nsecs[p])) o = this.missGone(o, this.nextSeq, seq - 1);
        this.nextSeq = seq;
      }
      const wanted = filter === null || filter.matches(st, p);
      if (filter?.exhausted) return this.endTooExpensive(o);
      // Evicted entries that were history when this reader came are holes in the store's view;
      // those that arrived while it was connected are still its to read while they are here.
      if (seq < joined && st.isDead(p)) {
        if (wanted) o = this.missEntry(o, seq, srcs[p]);
        this.nextSeq = seq + 1;
        this.pos++;
        continue;
      }
      if (!wanted) {
        this.nextSeq = seq + 1;
        this.pos++;
        continue;
      }
      const src = srcs[p];
      const name = this.names.get(src);
      const need = (this.v2 ? V2Encoder.worstCase(name, lens[p]) : V1Encoder.worstCase(name, lens[p])) + RESERVE;
      if (o > 0 && o + need > this.batch.length) return o;
      o = this.flushGap(o);
      const out = this.room(o, need);
      const off = offs[p];
      o = this.v2
        ? this.encoder2.encode(out, o, seq, secs[p], nsecs[p], name, this.names.isStdout(src), arena, off, off + lens[p], st.isPartial(p), st.pris[p])
        : this.encoder.encode(out, o, secs[p], nsecs[p], name, arena, off, off + lens[p]);
      this.nextSeq = seq + 1;
      this.sentEntries++;
      this.pos++;
    }
    // A dump that reached its end: whatever is missing before it is gone.
    if (this.untilSeq !== Infinity && this.nextSeq < this.untilSeq && (this.pos >= st.end || seqs[this.pos] >= this.untilSeq)) {
      o = this.missGone(o, this.nextSeq, this.untilSeq - 1);
      this.nextSeq = this.untilSeq;
    }
    o = this.flushGap(o);
    if (this.v2 && !this.endSent && this.nextSeq >= this.untilSeq) {
      const end = encodeEnd(this.untilSeq) + '\n';
      o += this.room(o, end.length).write(end, o, 'latin1');
      this.endSent = true;
    }
    return o;
  }

  /**
   * The filter used up its time budget: an error record instead of an end record, and the
   * request is complete. Everything else goes on; only this request pays for its filter.
   */
  private endTooExpensive(o: number): number {
    o = this.flushGap(o);
    const line = encodeError('ERR_QUERY_TOO_EXPENSIVE', Filter.EXHAUSTED_MESSAGE) + '\n';
    o += this.room(o, Buffer.byteLength(line)).write(line, o, 'utf8');
    this.untilSeq = this.nextSeq;
    this.endSent = true;
    this.opts.log?.(`query client pid ${this.opts.pid ?? -1} uid ${this.opts.uid ?? -1} (reader ${this.id}) ended: ` +
      `ERR_QUERY_TOO_EXPENSIVE: ${Filter.EXHAUSTED_MESSAGE}`);
    return o;
  }

  /**
   * The batch buffer with room for `need` more bytes at o: the current one, or a larger one that
   * holds the same first o bytes (a large entry or gap record; at most one of them per batch
   * beyond BATCH_BYTES).
   */
  private room(o: number, need: number): Buffer {
    const out = this.batch;
    if (o + need <= out.length) return out;
    const bigger = this.oversized(o + need);
    // the store's scratch starts where the batch view does: its bytes are already there
    if (bigger.buffer !== out.buffer || bigger.byteOffset !== out.byteOffset) out.copy(bigger, 0, 0, o);
    return (this.batch = bigger);
  }

  /** A buffer for a batch larger than BATCH_BYTES: all of the store's scratch, else a plain one. */
  private oversized(need: number): Buffer {
    if (need <= this.store.scratch.length) return this.store.scratch;
    if (oversize.length < need) oversize = Buffer.allocUnsafe(need);
    return oversize;
  }

  /** The reason of a miss at seq: before the reader came it was evicted, after it lagged. */
  private reasonAt(seq: number): GapReason {
    return seq < this.joinSeq ? 'evicted' : 'lagged';
  }

  /** Opens (or extends) the gap of this reason to end at `to`; writes a different open one first. */
  private gapAt(o: number, from: number, to: number, reason: GapReason): number {
    if (this.gapReason !== null && this.gapReason !== reason) o = this.flushGap(o);
    if (this.gapReason === null) {
      this.gapReason = reason;
      this.gapFrom = from;
      this.gapCount = 0;
    }
    this.gapTo = to;
    return o;
  }

  private countSource(src: number, n: number): void {
    this.gapBySource.set(src, (this.gapBySource.get(src) ?? 0) + n);
  }

  /** A dead entry still in memory that the reader wanted: missed, and whose it was is known. */
  private missEntry(o: number, seq: number, src: number): number {
    o = this.gapAt(o, seq, seq, this.reasonAt(seq));
    this.countSource(src, 1);
    this.gapCount++;
    return o;
  }

  /** Entries [from, to] are gone from memory: those of sources the reader wants are missed. */
  private missGone(o: number, from: number, to: number): number {
    const joined = this.joinSeq;
    if (from < joined && to >= joined) {
      // straddles the reader's arrival: two gaps of different reasons
      o = this.missGone(o, from, joined - 1);
      return this.missGone(o, joined, to);
    }
    // A gap of another reason is written first; one that counts nothing is not opened at all.
    const reason = this.reasonAt(from);
    if (this.gapReason !== null && this.gapReason !== reason) o = this.flushGap(o);
    const opened = this.gapReason === null;
    if (opened) {
      this.gapReason = reason;
      this.gapFrom = from;
      this.gapCount = 0;
    }
    const before = this.gapCount;
    this.dropVisited = 0;
    this.store.dropped(from, to, this.onDropped);
    // Every entry of the range is gone: one the log cannot place (dropped by a predecessor that
    // kept no log) is missed all the same, from no known source.
    const unplaced = to - from + 1 - this.dropVisited;
    if (unplaced > 0) {
      this.gapUnknown += unplaced;
      this.gapCount += unplaced;
    }
    if (this.gapCount > before) this.gapTo = to;
    else if (opened) this.gapReason = null; // all of other sources (a filter): nothing missed
    return o;
  }

  /** Writes the accumulated gap record, if any. */
  private flushGap(o: number): number {
    if (this.gapReason === null) return o;
    const by = this.gapBySource;
    // whose they were, unless part of it is no longer known
    const sources = this.gapUnknown === 0 && by.size > 0 ? this.names.bySource(by) : undefined;
    const g = { from: this.gapFrom, to: this.gapTo, count: this.gapCount, reason: this.gapReason, sources };
    this.gapReason = null;
    by.clear();
    this.gapUnknown = 0;
    this.gaps++;
    this.missed += g.count;
    if (this.v2) {
      const line = encodeGap(g) + '\n';
      return o + this.room(o, Buffer.byteLength(line)).write(line, o, 'utf8');
    }
    const msg = Buffer.from(gapMessageV1({ ...g, sources: sources && Object.fromEntries(sources) }));
    const [sec, nsec] = this.opts.now();
    return this.encoder.encode(this.room(o, V1Encoder.worstCase(this.names.selfJson, msg.length)), o, sec, nsec, this.names.selfJson, msg, 0, msg.length);
  }
}
