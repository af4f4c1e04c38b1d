// A query reader: a cursor (a sequence number) into the shared store, never a copy of it.
//
// It encodes entries straight from the store into a batch buffer shared by all readers (encoding
// and sending are synchronous) and sends it with a non-blocking write; only when the socket is
// full does it keep a copy of the unsent rest, and wait for writability while the store moves on
// without it. So a reader that keeps up holds no memory of its own, a slow one at most one batch,
// and neither ever blocks a producer. If a reader falls so far behind that entries it has not
// read are gone, it is told: a gap record.

import { SELF_SOURCE, V1Encoder, jsonString } from './protocol.js';
import { DEAD, type Store } from './store.js';

/** Output batch per socket write (bytes); one batch is all a reader may hold in memlogd. */
const BATCH_BYTES = 64 * 1024;
/** The batch buffer every reader encodes into; grows only for an entry larger than a batch. */
let scratch = Buffer.allocUnsafe(BATCH_BYTES);

export type GapReason = 'evicted' | 'lagged';

/** Entries the reader did not get: sequence numbers [from, to], count = to - from + 1. */
export interface Gap {
  from: number;
  to: number;
  count: number;
  reason: GapReason;
}

/** Quoted JSON form of each source's name, computed once per source. */
export class NameCache {
  private readonly json: Buffer[] = [];
  private self?: Buffer;
  constructor(private readonly store: Store) {}
  get(id: number): Buffer {
    return this.json[id] ?? (this.json[id] = jsonString(this.store.sources[id].name));
  }
  get selfJson(): Buffer {
    return this.self ?? (this.self = jsonString(Buffer.from(SELF_SOURCE)));
  }
}

/** Where a follower's bytes go: a connected socket, written without blocking. */
export interface Sink {
  /** Writes buf[from, to); returns bytes taken, null if none fit now; throws if the peer is gone. */
  write(buf: Buffer, from: number, to: number): number | null;
  /** Asks for (or cancels) a pump() call when the sink has room again. */
  wantWritable(on: boolean): void;
  /** Everything was sent (a dump is complete): release the connection. */
  close(): void;
}

export interface FollowerOptions {
  /** First sequence number wanted (store.oldestSeq for a dump, store.nextSeq to follow). */
  fromSeq: number;
  /** Stop before this sequence number (a dump); Infinity to follow forever. */
  untilSeq: number;
  /** Clock for gap records (now, as [sec, nsec]). */
  now: () => [number, number];
}

export class Follower {
  /** Next sequence number this reader wants. */
  nextSeq: number;
  /** Sequence number when the reader arrived: entries before it that vanish were "evicted", after it "lagged". */
  readonly joinSeq: number;
  readonly untilSeq: number;
  gaps = 0;
  missed = 0;
  sentEntries = 0;
  private pos = -1;
  private gen = -1;
  /** Encoded bytes the socket did not take yet (pending[pendFrom...]). */
  private pending: Buffer | null = null;
  private pendFrom = 0;
  private blocked = false;
  private finished = false;
  private readonly encoder = new V1Encoder();

  constructor(private readonly store: Store, private readonly names: NameCache,
    private readonly sink: Sink, private readonly opts: FollowerOptions) {
    this.nextSeq = opts.fromSeq;
    this.joinSeq = store.nextSeq;
    this.untilSeq = opts.untilSeq;
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
        const sent = this.sink.write(scratch, 0, n) ?? 0;
        if (sent < n) {
          this.pending = Buffer.from(scratch.subarray(sent, n)); // scratch is the next reader's
          this.pendFrom = 0;
          return this.block();
        }
      }
    } catch {
      this.sink.close(); // the reader went away (EPIPE, ECONNRESET)
      return;
    }
    if (this.blocked) this.sink.wantWritable((this.blocked = false));
    if (this.nextSeq >= this.untilSeq) {
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
    if (this.gen !== st.generation) {
      this.pos = st.lowerBound(this.nextSeq);
      this.gen = st.generation;
    }
    const { seqs, secs, nsecs, srcs, lens, offs, flags, arena } = st;
    const joined = this.joinSeq;
    let o = 0;
    let out = scratch;
    while (this.pos < st.end && this.nextSeq < this.untilSeq) {
      const p = this.pos;
      const seq = seqs[p];
      // Evicted entries that were history when this reader came are holes in the store's view;
      // those that arrived while it was connected are still its to read while they are here.
      if ((flags[p] & DEAD) !== 0 && seq < joined) {
        this.pos++;
        continue;
      }
      if (seq >= this.untilSeq) break;
      const name = this.names.get(srcs[p]);
      const need = V1Encoder.worstCase(name, lens[p]) + (seq > this.nextSeq ? 512 : 0);
      if (o + need > out.length) {
        if (o > 0) return o;
        out = scratch = Buffer.allocUnsafe(need);
      }
      if (seq > this.nextSeq) o = this.gap(out, o, this.nextSeq, seq - 1);
      o = this.encoder.encode(out, o, secs[p], nsecs[p], name, arena, offs[p], offs[p] + lens[p]);
      this.nextSeq = seq + 1;
      this.sentEntries++;
      this.pos++;
    }
    // A dump that reached the end of the store: what is missing up to its end was evicted.
    if (this.pos >= st.end && this.untilSeq !== Infinity && this.nextSeq < this.untilSeq && o + 1024 <= out.length) {
      o = this.gap(out, o, this.nextSeq, this.untilSeq - 1);
    }
    return o;
  }

  /** Encodes gap records for [from, to] as v1 entries from source memlogd. */
  private gap(out: Buffer, o: number, from: number, to: number): number {
    // Entries that were already in the store when the reader came are "evicted"; later ones
    // were evicted because this reader fell behind ("lagged").
    if (from < this.joinSeq && to >= this.joinSeq) {
      o = this.gap(out, o, from, this.joinSeq - 1);
      return this.gap(out, o, this.joinSeq, to);
    }
    const g: Gap = { from, to, count: to - from + 1, reason: from < this.joinSeq ? 'evicted' : 'lagged' };
    this.gaps++;
    this.missed += g.count;
    this.nextSeq = to + 1;
    const msg = Buffer.from(gapMessage(g));
    const [sec, nsec] = this.opts.now();
    return this.encoder.encode(out, o, sec, nsec, this.names.selfJson, msg, 0, msg.length);
  }
}

/** The v1 text of a gap record (a v1 client sees it as an entry from source memlogd). */
export function gapMessage(g: Gap): string {
  const what = g.count === 1 ? '1 entry' : `${g.count} entries`;
  return g.reason === 'lagged'
    ? `gap: this reader fell behind and missed ${what} (seq ${g.from}-${g.to}), evicted before it read them`
    : `gap: ${what} (seq ${g.from}-${g.to}) evicted earlier to make room`;
}
