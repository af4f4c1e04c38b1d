// The log store: every entry's bytes in one preallocated arena, its metadata in typed arrays
// (no JS object per line), bounded by lines and bytes, fair across sources.
//
// Layout: entries occupy index positions [0, end) in sequence order; position p has
// seqs[p], secs[p]/nsecs[p] (receive time), srcs[p], offs[p]/lens[p] (bytes in the arena) and
// flags[p] and pris[p] (facility * 8 + severity, protocol/severity.ts). Sequence numbers increase by one per entry across all sources and are never reused
// (doubles: exact up to 2^53, centuries at millions of lines per second).
//
// Fairness: when a bound is hit, the oldest entry of the source holding the most (lines, or
// bytes) is evicted, so a chatty source cannot erase a quiet one.
//
// Eviction is logical: the entry is marked DEAD and leaves the store's bounded view (dumps, the
// counts), but its slot and bytes stay until the physical index or arena is full. Then
// compaction moves the entries still wanted to the front: the live ones, and dead ones a
// connected follower has not read yet (retainFrom), within a budget. So a follower that falls a
// little behind a fast producer still gets every line, from memory that was preallocated
// anyway, and compaction is rare (every PHYSICAL_SLACK appends). Readers hold sequence
// numbers, not positions: after a compaction (generation changes) they binary-search again.
//
// What compaction drops it records in the drop log (drops.ts): which source each dropped entry
// was from, so a reader told it missed entries can be told whose they were.
//
// Pure module: no I/O.

import { OutOfRangeError } from '../protocol/errors.js';
import type { SourceCounts } from '../protocol/stats.js';
import { fastMemory, type FastCopy } from '../wasm/fast-memory.js';
import { DropLog, type DropVisitor } from './drops.js';
import { PARTIAL } from './framing.js';
import { MaxHeap } from './heap.js';

/** Entry flag: evicted, slot awaits compaction. Lower bits are the framer's (PARTIAL). */
export const DEAD = 0x80;

/** Index slots beyond maxLines (33 bytes each, preallocated): followers' grace and compaction room. */
const PHYSICAL_SLACK = 65536;
/** Arena bytes beyond maxBytes, at least. */
const ARENA_SLACK = 1024 * 1024;
/** The readers' shared batch buffer (lib/daemon/reader.ts), in the same memory as the arena. */
export const SCRATCH_BYTES = 256 * 1024;

export interface StoreOptions {
  /** Bound on live entries (reference default: 5000). */
  maxLines: number;
  /** Bound on live message bytes. */
  maxBytes: number;
  /** Index slots beyond maxLines (default PHYSICAL_SLACK; tests make it small to force compactions). */
  slack?: number;
  /** Drop-log entries kept before its oldest part is summarized (default: the index capacity). */
  dropBudget?: number;
}

export interface SourceInfo extends SourceCounts {
  id: number;
  /** The name exactly as received (may be any bytes). */
  name: Buffer;
  firstSeen: number;
  lastSeen: number;
  /** Position of this source's oldest live entry, -1 if none; entries chain through next[]. */
  head: number;
  tail: number;
}

/**
 * What the readers still want: the oldest sequence number any of them has not read among the
 * dead entries (Infinity: none). Compaction keeps dead entries from there on while they fit.
 */
export interface Retention {
  retainFrom(): number;
  /**
   * Sequence numbers readers may ask about dropped entries from or up to (their positions, where
   * they joined, where their dump ends): the drop log stays exact at each of them.
   */
  cuts?(): number[];
}

/** The JSON part of a store snapshot (see Store.snapshot). */
export interface StoreSnapshot {
  opts: StoreOptions;
  end: number;
  used: number;
  lines: number;
  bytes: number;
  nextSeq: number;
  evicted: number;
  sources: Array<Omit<SourceInfo, 'id' | 'name' | 'head' | 'tail'> & { name: string }>;
}

export class Store {
  readonly maxLines: number;
  readonly maxBytes: number;
  readonly capacity: number;
  readonly arena: Buffer;
  /** Where readers encode their batches: next to the arena, so the SIMD copy reaches both. */
  readonly scratch: Buffer;
  /** The SIMD copy over arena and scratch (undefined where WebAssembly is not available). */
  readonly fast: FastCopy | undefined;
  readonly seqs: Float64Array;
  readonly secs: Float64Array;
  readonly nsecs: Uint32Array;
  readonly offs: Uint32Array;
  readonly lens: Uint32Array;
  readonly srcs: Uint32Array;
  readonly flags: Uint8Array;
  /** Each entry's priority: facility * 8 + severity (packPri). */
  readonly pris: Uint8Array;
  private readonly next: Int32Array;

  /** Index positions [0, end) hold entries; start is the oldest live one (end if none). */
  start = 0;
  end = 0;
  /** Who says which dead entries readers still want (see Retention); none: nobody. */
  private retention: Retention | null = null;
  /** Arena bytes in use (live and dead). */
  private used = 0;
  /** Live totals. */
  lines = 0;
  bytes = 0;
  /** Sequence number the next entry will get. */
  nextSeq = 0;
  /** Entries evicted since start. */
  evicted = 0;
  /** Bumped by every compaction: positions cached by readers are stale when it changes. */
  generation = 0;
  /** Sources of the entries compaction dropped. */
  readonly drops: DropLog;

  readonly sources: SourceInfo[] = [];
  private readonly byName = new Map<string, number>();
  // Live lines and bytes per source id, mirrored from SourceInfo for the heaps.
  private keyLines = new Float64Array(64);
  private keyBytes = new Float64Array(64);
  private readonly mostLines: MaxHeap;
  private readonly mostBytes: MaxHeap;

  constructor(readonly opts: StoreOptions) {
    const { maxLines, maxBytes } = opts;
    if (!Number.isInteger(maxLines) || maxLines < 1) throw new OutOfRangeError(`maxLines must be a positive integer, got ${maxLines}`);
    if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new OutOfRangeError(`maxBytes must be a positive integer, got ${maxBytes}`);
    this.maxLines = maxLines;
    this.maxBytes = maxBytes;
    this.capacity = maxLines + Math.max(1, opts.slack ?? Math.max(Math.floor(maxLines / 2), PHYSICAL_SLACK));
    // Both memories are mapped lazily: pages count in RSS only once written.
    const arenaBytes = maxBytes + Math.max(Math.floor(maxBytes / 2), opts.slack === undefined ? ARENA_SLACK : 64);
    const fm = fastMemory(arenaBytes + SCRATCH_BYTES);
    this.arena = fm ? fm.view.subarray(0, arenaBytes) : Buffer.allocUnsafeSlow(arenaBytes);
    this.scratch = fm ? fm.view.subarray(arenaBytes, arenaBytes + SCRATCH_BYTES) : Buffer.allocUnsafeSlow(SCRATCH_BYTES);
    this.fast = fm?.fast;
    const n = this.capacity;
    this.seqs = new Float64Array(n);
    this.secs = new Float64Array(n);
    this.nsecs = new Uint32Array(n);
    this.offs = new Uint32Array(n);
    this.lens = new Uint32Array(n);
    this.srcs = new Uint32Array(n);
    this.flags = new Uint8Array(n);
    this.pris = new Uint8Array(n);
    this.next = new Int32Array(n);
    this.mostLines = new MaxHeap(this.keyLines);
    this.mostBytes = new MaxHeap(this.keyBytes);
    this.drops = new DropLog(opts.dropBudget ?? this.capacity);
  }

  /** Id of the source with this name, created on first use. */
  source(name: Buffer, nowSec = Date.now() / 1000): number {
    const key = name.toString('latin1');
    let id = this.byName.get(key);
    if (id === undefined) {
      id = this.sources.length;
      this.sources.push({
        id, name: Buffer.from(name), lines: 0, bytes: 0, totalLines: 0, totalBytes: 0,
        evicted: 0, partial: 0, severities: [0, 0, 0, 0, 0, 0, 0, 0], firstSeen: nowSec, lastSeen: nowSec, head: -1, tail: -1,
      });
      this.byName.set(key, id);
      if (id >= this.keyLines.length) {
        const grow = (a: Float64Array) => {
          const b = new Float64Array(a.length * 2);
          b.set(a);
          return b;
        };
        this.mostLines.keys = this.keyLines = grow(this.keyLines);
        this.mostBytes.keys = this.keyBytes = grow(this.keyBytes);
      }
    }
    return id;
  }

  /** Sets who tells compaction which dead entries readers still want (the query server). */
  setRetention(r: Retention): void {
    this.retention = r;
  }

  /** Is the entry at index position p evicted (still readable by a follower that wants it)? */
  isDead(p: number): boolean {
    return (this.flags[p] & DEAD) !== 0;
  }

  /** Is the entry at index position p a piece that the next piece of its source continues? */
  isPartial(p: number): boolean {
    return (this.flags[p] & PARTIAL) !== 0;
  }

  hasSource(name: Buffer): boolean {
    return this.byName.has(name.toString('latin1'));
  }

  /** Sequence number of the oldest live entry (== nextSeq when empty). */
  get oldestSeq(): number {
    return this.start < this.end ? this.seqs[this.start] : this.nextSeq;
  }

  /** Appends one entry (bytes are copied); returns its sequence number. */
  append(src: number, buf: Buffer, start: number, end: number, sec: number, nsec: number, flags: number, pri: number): number {
    const len = end - start;
    if (len > this.maxBytes) throw new OutOfRangeError(`entry of ${len} bytes exceeds maxBytes ${this.maxBytes}`);
    while (this.lines >= this.maxLines) this.evictFrom(this.mostLines.top());
    while (this.bytes + len > this.maxBytes) this.evictFrom(this.mostBytes.top());
    if (this.end === this.capacity || this.used + len > this.arena.length) this.compact(1, len);

    const off = this.used;
    buf.copy(this.arena, off, start, end);
    this.used += len;
    const seq = this.index(src, off, len, sec, nsec, flags, pri);
    const s = this.sources[src];
    s.lastSeen = sec + nsec / 1e9;
    this.counted(src, s);
    return seq;
  }

  /**
   * Appends the lines of one chunk: line i is buf[starts[i], ends[i]), all from src, in order.
   * Their bytes are copied into the arena in one move, separators included (compaction drops
   * those later), so ingest costs one copy per chunk instead of one per line.
   */
  appendBatch(src: number, buf: Buffer, starts: Int32Array, ends: Int32Array, flags: Uint8Array,
    n: number, sec: number, nsec: number, pri: number, pris?: Uint8Array): void {
    const from = starts[0];
    const to = ends[n - 1];
    let msgBytes = 0;
    for (let i = 0; i < n; i++) msgBytes += ends[i] - starts[i];
    // A batch that is large against the bounds takes the simple path, line by line.
    if (n * 4 > this.maxLines || (to - from) * 4 > this.maxBytes) {
      for (let i = 0; i < n; i++) this.append(src, buf, starts[i], ends[i], sec, nsec, flags[i], pris ? pris[i] : pri);
      return;
    }
    while (this.lines + n > this.maxLines) this.evictFrom(this.mostLines.top());
    while (this.bytes + msgBytes > this.maxBytes) this.evictFrom(this.mostBytes.top());
    if (this.end + n > this.capacity || this.used + (to - from) > this.arena.length) this.compact(n, to - from);
    const base = this.used - from;
    buf.copy(this.arena, this.used, from, to);
    this.used += to - from;
    for (let i = 0; i < n; i++) this.index(src, base + starts[i], ends[i] - starts[i], sec, nsec, flags[i], pris ? pris[i] : pri);
    const s = this.sources[src];
    s.lastSeen = sec + nsec / 1e9;
    this.counted(src, s);
  }

  /** Fills the index slot of a new entry whose bytes are at arena[off, off+len). */
  private index(src: number, off: number, len: number, sec: number, nsec: number, flags: number, pri: number): number {
    const p = this.end++;
    const seq = this.nextSeq++;
    this.seqs[p] = seq;
    this.secs[p] = sec;
    this.nsecs[p] = nsec;
    this.offs[p] = off;
    this.lens[p] = len;
    this.srcs[p] = src;
    this.flags[p] = flags;
    this.pris[p] = pri;
    this.next[p] = -1;
    const s = this.sources[src];
    if (s.tail >= 0) this.next[s.tail] = p;
    else s.head = p;
    s.tail = p;
    s.lines++;
    s.bytes += len;
    s.totalLines++;
    s.totalBytes += len;
    if (flags & PARTIAL) s.partial++;
    else s.severities[pri & 7]++;
    this.lines++;
    this.bytes += len;
    return seq;
  }

  /** After a source's counts changed: refresh the fairness heaps. */
  private counted(id: number, s: SourceInfo): void {
    this.keyLines[id] = s.lines;
    this.keyBytes[id] = s.bytes;
    this.mostLines.update(id);
    this.mostBytes.update(id);
  }

  /** Evicts the oldest live entry of source id. */
  private evictFrom(id: number): void {
    const s = this.sources[id];
    const p = s.head;
    this.flags[p] |= DEAD;
    s.head = this.next[p];
    if (s.head < 0) s.tail = -1;
    s.lines--;
    s.bytes -= this.lens[p];
    s.evicted++;
    this.lines--;
    this.bytes -= this.lens[p];
    this.evicted++;
    this.counted(id, s);
    // Keep start on a live entry so the oldest entry and its sequence are O(1).
    while (this.start < this.end && (this.flags[this.start] & DEAD) !== 0) this.start++;
  }

  /**
   * Oldest dead sequence number compaction can keep: what readers want (retainFrom), raised
   * until the kept entries leave a quarter of the slack free, and room for the `needN` entries
   * of `needB` arena bytes about to be appended (so compaction always makes room: with a small
   * slack, a batch larger than a quarter of it once ran past the end of the index).
   */
  private keepFrom(needN: number, needB: number): number {
    const keep = this.retention?.retainFrom() ?? Infinity;
    if (keep >= this.nextSeq) return Infinity;
    let n = this.lines;
    // live entries in the kept block carry their separators along too (at most \r\n each)
    let b = this.bytes + 2 * this.lines;
    const maxN = Math.min(this.maxLines + Math.floor(((this.capacity - this.maxLines) * 3) / 4), this.capacity - needN);
    // plain arithmetic: byte counts may exceed 2^31, where >> would wrap
    const maxB = Math.min(this.maxBytes + Math.floor(((this.arena.length - this.maxBytes) * 3) / 4), this.arena.length - needB);
    if (n > maxN || b > maxB) return Infinity; // no room for a block: the live entries, packed
    for (let p = this.end - 1; p >= 0 && this.seqs[p] >= keep; p--) {
      if ((this.flags[p] & DEAD) === 0) continue;
      if (n + 1 > maxN || b + this.lens[p] + 2 > maxB) return this.seqs[p] + 1;
      n++;
      b += this.lens[p] + 2; // + separators, which a kept block carries along
    }
    return keep;
  }

  /**
   * Moves the entries still wanted to the front, in order: live ones from before keepFrom one
   * by one (at most maxLines of them), then everything from keepFrom on as one block (typed
   * array and arena moves, no per-entry work), then rebuilds the per-source chains.
   */
  private compact(needN: number, needB: number): void {
    const { arena, seqs, secs, nsecs, offs, lens, srcs, flags, pris } = this;
    const kp = this.lowerBound(this.keepFrom(needN, needB));
    let w = 0;
    let wb = 0;
    // Contiguous runs of bytes move in one copy each (bytes only ever move left).
    let runFrom = 0;
    let runTo = 0;
    let runDst = 0;
    // Dropped entries go to the drop log a run at a time: adjacent positions of one source,
    // tracked here in locals since this loop visits every one of them; their sequence numbers
    // are read only at a run's ends (consecutive unless an earlier compaction left a hole),
    // before the next live entry is moved down over them.
    let dropSrc = -1;
    let dropP = -1;
    let lastP = -2;
    for (let r = 0; r < kp; r++) {
      if (flags[r] & DEAD) {
        const src = srcs[r];
        if (src !== dropSrc || r !== lastP + 1) {
          if (dropP >= 0) this.dropRun(dropP, lastP, dropSrc);
          dropSrc = src;
          dropP = r;
        }
        lastP = r;
        continue;
      }
      if (dropP >= 0) {
        this.dropRun(dropP, lastP, dropSrc);
        dropP = dropSrc = -1;
      }
      const off = offs[r];
      const len = lens[r];
      if (off !== runTo) {
        if (runTo > runFrom) arena.copyWithin(runDst, runFrom, runTo);
        runFrom = runTo = off;
        runDst = wb;
      }
      runTo = off + len;
      seqs[w] = seqs[r];
      secs[w] = secs[r];
      nsecs[w] = nsecs[r];
      offs[w] = wb;
      lens[w] = len;
      srcs[w] = srcs[r];
      flags[w] = flags[r];
      pris[w] = pris[r];
      wb += len;
      w++;
    }
    if (dropP >= 0) this.dropRun(dropP, lastP, dropSrc);
    if (runTo > runFrom) arena.copyWithin(runDst, runFrom, runTo);
    if (kp < this.end) {
      const n = this.end - kp;
      const from = offs[kp];
      for (const a of [seqs, secs, nsecs, offs, lens, srcs, flags, pris]) a.copyWithin(w, kp, this.end);
      arena.copyWithin(wb, from, this.used);
      const shift = from - wb;
      for (let p = w; p < w + n; p++) offs[p] -= shift;
      wb += this.used - from;
      w += n;
    }
    this.end = w;
    this.used = wb;
    this.relink();
    this.generation++;
    this.drops.commit(() => this.retention?.cuts?.() ?? []);
  }

  /** Index positions [a, b], all dead and of source src, are being dropped: into the drop log. */
  private dropRun(a: number, b: number, src: number): void {
    const { seqs, drops } = this;
    if (seqs[b] - seqs[a] === b - a) drops.addRun(seqs[a], seqs[b], src);
    else for (let p = a; p <= b; p++) drops.addRun(seqs[p], seqs[p], src); // holes inside: addRun joins what touches
  }

  /** Rebuilds the per-source chains of live entries and the oldest live position. */
  private relink(): void {
    const { flags, srcs, next } = this;
    for (const s of this.sources) s.head = s.tail = -1;
    let start = -1;
    for (let p = 0; p < this.end; p++) {
      if (flags[p] & DEAD) continue;
      if (start < 0) start = p;
      next[p] = -1;
      const s = this.sources[srcs[p]];
      if (s.tail >= 0) next[s.tail] = p;
      else s.head = p;
      s.tail = p;
    }
    this.start = start < 0 ? this.end : start;
  }

  /**
   * Visits, per source, how many entries numbered [from, to] are no longer in memory (their
   * source as UNKNOWN_SOURCE where the drop log had to forget it). Entries still here, dead or
   * alive, are not visited.
   */
  dropped(from: number, to: number, visit: DropVisitor): void {
    this.drops.each(from, to, visit);
  }

  /**
   * Visits, per source, the evicted entries numbered below seq, whether still in memory for a
   * reader or dropped (below oldestSeq that is every entry: all of them were evicted).
   */
  evictedBefore(seq: number, visit: DropVisitor): void {
    this.drops.each(0, seq - 1, visit);
    for (let p = 0; p < this.end && this.seqs[p] < seq; p++) if (this.flags[p] & DEAD) visit(this.srcs[p], 1);
  }

  /**
   * Everything the store holds, for a successor (graceful restart): the counters and sources as
   * JSON, the entries as the bytes of the index arrays and the arena (in use only).
   */
  snapshot(): { meta: StoreSnapshot; blobs: Buffer[] } {
    const e = this.end;
    const view = (a: ArrayBufferView, n: number, width: number) => Buffer.from(a.buffer, a.byteOffset, n * width);
    const meta: StoreSnapshot = {
      opts: this.opts, end: e, used: this.used, lines: this.lines, bytes: this.bytes, nextSeq: this.nextSeq, evicted: this.evicted,
      sources: this.sources.map((x) => ({
        name: x.name.toString('base64'), lines: x.lines, bytes: x.bytes, totalLines: x.totalLines, totalBytes: x.totalBytes,
        evicted: x.evicted, partial: x.partial, severities: x.severities, firstSeen: x.firstSeen, lastSeen: x.lastSeen,
      })),
    };
    const blobs = [
      view(this.seqs, e, 8), view(this.secs, e, 8), view(this.nsecs, e, 4), view(this.offs, e, 4), view(this.lens, e, 4),
      view(this.srcs, e, 4), view(this.flags, e, 1), this.arena.subarray(0, this.used), view(this.pris, e, 1),
      // whose the dropped entries were, so gaps keep saying so across the restart
      ...this.drops.snapshot(),
    ];
    return { meta, blobs };
  }

  /** A store holding exactly what a snapshot() held (its sequence numbers too, so cursors stay valid). */
  static restore(meta: StoreSnapshot, blobs: Buffer[]): Store {
    const st = new Store(meta.opts);
    for (const x of meta.sources) {
      const id = st.source(Buffer.from(x.name, 'base64'), x.firstSeen);
      Object.assign(st.sources[id], {
        lines: x.lines, bytes: x.bytes, totalLines: x.totalLines, totalBytes: x.totalBytes, evicted: x.evicted,
        partial: x.partial, severities: x.severities ?? [0, 0, 0, 0, 0, 0, 0, 0], firstSeen: x.firstSeen, lastSeen: x.lastSeen,
      });
    }
    const arrays: ArrayBufferView[] = [st.seqs, st.secs, st.nsecs, st.offs, st.lens, st.srcs, st.flags];
    arrays.forEach((a, i) => new Uint8Array(a.buffer, a.byteOffset, blobs[i].length).set(blobs[i]));
    blobs[7].copy(st.arena, 0);
    // a predecessor without priorities (an upgrade): every entry's is its stream's default, unknown here
    if (blobs[8]) st.pris.set(blobs[8]);
    // a predecessor without a drop log: gaps over what it dropped say how many, not whose
    if (blobs.length >= 13) st.drops.restore(blobs.slice(9, 13));
    st.end = meta.end;
    st.used = meta.used;
    st.lines = meta.lines;
    st.bytes = meta.bytes;
    st.nextSeq = meta.nextSeq;
    st.evicted = meta.evicted;
    st.relink();
    st.sources.forEach((x, id) => st.counted(id, x));
    return st;
  }

  /** First position in [0, end) whose sequence is >= seq (end if none). */
  lowerBound(seq: number): number {
    let lo = 0;
    let hi = this.end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.seqs[mid] < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
