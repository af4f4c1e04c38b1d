// Whose entries compaction dropped: for sequence numbers that are no longer in the store, which
// source each entry was from, so a reader that finds entries gone can say whose they were (the
// per-source breakdown of a gap record).
//
// Entries leave memory only in Store.compact(), which records them here in sequence order. The
// log keeps them as runs: a range [from, to] of sequence numbers, all dropped, all of one source.
// A pipe delivers lines a chunk at a time, so runs are long and the log stays small (one run per
// chunk at worst; a flooding source alone is one run however many it lost).
//
// Bounded. Past `budget` entries, the oldest stretches of contiguous dropped numbers are
// summarized into groups: several entries sharing one range, each a source and its count there.
// A group cannot be cut (which of its entries lie before a given number is no longer known), so
// summaries never span a cut: a number some connected reader may ask from (its position, the
// point it joined, the end of its dump). Every connected reader thus keeps exact breakdowns; a
// range that starts or ends inside a group (a reader resuming after an old cursor) has an unknown
// part. If summaries alone still exceed the budget (thousands of sources interleaved between
// thousands of entries kept for their sources), the oldest groups become one UNKNOWN entry each.
//
// Pure module: no I/O.

/** Source id of entries whose source is no longer known (see the bound above). */
export const UNKNOWN_SOURCE = 0xffffffff;

/** Receives a source id (or UNKNOWN_SOURCE) and how many of the dropped entries asked about were its. */
export type DropVisitor = (src: number, count: number) => void;

/** Entries as parallel typed arrays, sorted by `from`; members of a group are adjacent. */
class Table {
  from = new Float64Array(0);
  to = new Float64Array(0);
  src = new Uint32Array(0);
  count = new Float64Array(0);
  n = 0;

  reserve(want: number): void {
    if (want <= this.from.length) return;
    const size = Math.max(want, this.from.length * 2, 64);
    const grow = <T extends Float64Array | Uint32Array>(a: T, b: T): T => {
      b.set(a.subarray(0, this.n));
      return b;
    };
    this.from = grow(this.from, new Float64Array(size));
    this.to = grow(this.to, new Float64Array(size));
    this.src = grow(this.src, new Uint32Array(size));
    this.count = grow(this.count, new Float64Array(size));
  }

  push(from: number, to: number, src: number, count: number): void {
    if (this.n === this.from.length) this.reserve(this.n + 1);
    const i = this.n++;
    this.from[i] = from;
    this.to[i] = to;
    this.src[i] = src;
    this.count[i] = count;
  }

  /** A run: every number of its range is one entry of its source (or all UNKNOWN). */
  isRun(i: number): boolean {
    return this.count[i] === this.to[i] - this.from[i] + 1;
  }
}

export class DropLog {
  private t = new Table();
  /** Runs of the compaction in progress (begin/add/commit), in sequence order. */
  private staged = new Table();
  /** Tables a summary wrote through before, kept for the next (allocating them each time cost more than summing up). */
  private readonly spare: Table[] = [];
  /** Per-source sums while summarizing (indexed by source id; UNKNOWN_SOURCE kept apart). */
  private sums = new Float64Array(64);
  private touched: number[] = [];
  /** Times the log was summarized, and groups given up as UNKNOWN (for tests). */
  coarsened = 0;
  forgotten = 0;

  /** budget: entries kept before the oldest are summarized (at least 16). */
  constructor(readonly budget: number) {
    this.budget = Math.max(16, budget);
  }

  /** Entries held now (runs, group members, unknowns). */
  get size(): number {
    return this.t.n;
  }

  /** Records that the entry `seq` of source `src` left memory; calls come in increasing seq. */
  add(seq: number, src: number): void {
    this.addRun(seq, seq, src);
  }

  /**
   * Records that entries [from, to] of source src left memory (all of them, all its); calls come
   * in increasing order. Compaction finds the runs itself: one call per run, not per entry.
   */
  addRun(from: number, to: number, src: number): void {
    const s = this.staged;
    const last = s.n - 1;
    if (last >= 0 && s.src[last] === src && s.to[last] === from - 1) {
      s.to[last] = to;
      s.count[last] += to - from + 1;
    } else s.push(from, to, src, to - from + 1);
  }

  /**
   * Merges what add() recorded since the last commit into the log; summarizes the oldest part
   * if the log is over budget, never across the numbers `cuts()` returns.
   */
  commit(cuts: () => number[]): void {
    const s = this.staged;
    if (s.n === 0) return;
    const t = this.t;
    // Merge from the back, in place: the staged runs are disjoint from everything logged (an
    // entry is dropped once), so a run never falls inside a group.
    t.reserve(t.n + s.n);
    let i = t.n - 1;
    let j = s.n - 1;
    // Entries before the first staged one stay where they were (usually all of them: what a
    // compaction drops is mostly newer than what earlier ones dropped), so runs need joining only
    // from there: a compaction costs what it dropped, not the whole log.
    let first = 0;
    for (let k = t.n + s.n - 1; j >= 0; k--) {
      if (i >= 0 && t.from[i] > s.from[j]) {
        t.from[k] = t.from[i];
        t.to[k] = t.to[i];
        t.src[k] = t.src[i];
        t.count[k] = t.count[i];
        i--;
      } else {
        t.from[k] = s.from[j];
        t.to[k] = s.to[j];
        t.src[k] = s.src[j];
        t.count[k] = s.count[j];
        j--;
        first = k;
      }
    }
    t.n += s.n;
    s.n = 0;
    this.joinRuns(Math.max(0, first - 1));
    if (t.n > this.budget) this.summarize(cuts());
  }

  /** Adjacent runs of one source (or both unknown) that now touch become one run (from `from` on). */
  private joinRuns(from: number): void {
    const t = this.t;
    let w = from;
    for (let r = from; r < t.n; r++) {
      if (w > from && t.src[w - 1] === t.src[r] && t.to[w - 1] + 1 === t.from[r] && t.isRun(w - 1) && t.isRun(r)) {
        t.to[w - 1] = t.to[r];
        t.count[w - 1] += t.count[r];
        continue;
      }
      if (w !== r) {
        t.from[w] = t.from[r];
        t.to[w] = t.to[r];
        t.src[w] = t.src[r];
        t.count[w] = t.count[r];
      }
      w++;
    }
    t.n = w;
  }

  /**
   * Summarizes the oldest stretches until the log is at half its budget: first into per-source
   * groups (never across a cut), then, if that is not enough, groups into UNKNOWN entries.
   */
  private summarize(cutList: number[]): void {
    this.coarsened++;
    const cuts = [...new Set(cutList)].filter((c) => Number.isFinite(c)).sort((a, b) => a - b);
    const target = this.budget >> 1;
    let t = this.splitAtCuts(cuts);
    this.give(this.t);
    // Pass 1: stretches (contiguous numbers, not across a cut) into one group each, oldest first.
    const out = this.take();
    out.reserve(Math.min(t.n, this.budget));
    let c = 0;
    let i = 0;
    while (i < t.n) {
      // the stretch: the entries after i that continue it (same group, or the next numbers, not at a cut)
      let j = i + 1;
      for (; j < t.n; j++) {
        if (t.from[j] === t.from[j - 1]) continue;
        if (t.from[j] !== t.to[j - 1] + 1) break;
        while (c < cuts.length && cuts[c] < t.from[j]) c++;
        if (c < cuts.length && cuts[c] === t.from[j]) break;
      }
      if (out.n + (t.n - i) > target && j - i > 1) this.group(t, i, j, out);
      else for (let k = i; k < j; k++) out.push(t.from[k], t.to[k], t.src[k], t.count[k]);
      i = j;
    }
    this.give(t);
    t = out;
    if (t.n > target) {
      // Pass 2: groups into UNKNOWN entries, oldest first, joined when they touch.
      const u = this.take();
      u.reserve(t.n);
      for (let k = 0; k < t.n;) {
        let e = k + 1;
        while (e < t.n && t.from[e] === t.from[k]) e++;
        if (u.n + (t.n - k) > target && (e - k > 1 || t.src[k] === UNKNOWN_SOURCE)) {
          if (e - k > 1) this.forgotten++;
          const last = u.n - 1;
          if (last >= 0 && u.src[last] === UNKNOWN_SOURCE && u.to[last] + 1 === t.from[k]) {
            u.to[last] = t.to[k];
            u.count[last] += t.to[k] - t.from[k] + 1;
          } else u.push(t.from[k], t.to[k], UNKNOWN_SOURCE, t.to[k] - t.from[k] + 1);
        } else for (let x = k; x < e; x++) u.push(t.from[x], t.to[x], t.src[x], t.count[x]);
        k = e;
      }
      this.give(t);
      t = u;
    }
    this.t = t;
  }

  private take(): Table {
    return this.spare.pop() ?? new Table();
  }

  private give(t: Table): void {
    t.n = 0;
    if (this.spare.length < 2) this.spare.push(t);
  }

  /** The log with every run that spans a cut split there (groups cannot be split). */
  private splitAtCuts(cuts: number[]): Table {
    const t = this.t;
    const out = this.take();
    out.reserve(t.n + cuts.length);
    let c = 0;
    for (let i = 0; i < t.n; i++) {
      let from = t.from[i];
      const to = t.to[i];
      if (t.isRun(i)) {
        while (c < cuts.length && cuts[c] <= from) c++;
        for (; c < cuts.length && cuts[c] <= to; c++) {
          out.push(from, cuts[c] - 1, t.src[i], cuts[c] - from);
          from = cuts[c];
        }
      }
      out.push(from, to, t.src[i], t.isRun(i) ? to - from + 1 : t.count[i]);
    }
    return out;
  }

  /** Entries [i, j) of t (one stretch) as one group: per source, its count over their range. */
  private group(t: Table, i: number, j: number, out: Table): void {
    const from = t.from[i];
    const to = t.to[j - 1];
    let unknown = 0;
    for (let k = i; k < j; k++) {
      const s = t.src[k];
      if (s === UNKNOWN_SOURCE) {
        unknown += t.count[k];
        continue;
      }
      if (s >= this.sums.length) {
        const bigger = new Float64Array(Math.max(s + 1, this.sums.length * 2));
        bigger.set(this.sums);
        this.sums = bigger;
      }
      if (this.sums[s] === 0) this.touched.push(s);
      this.sums[s] += t.count[k];
    }
    for (const s of this.touched) {
      out.push(from, to, s, this.sums[s]);
      this.sums[s] = 0;
    }
    this.touched.length = 0;
    if (unknown > 0) out.push(from, to, UNKNOWN_SOURCE, unknown);
  }

  /** The log as bytes for a successor (graceful restart): its four arrays, entries in use only. */
  snapshot(): Buffer[] {
    const t = this.t;
    const view = (a: Float64Array | Uint32Array) => Buffer.from(a.buffer, a.byteOffset, t.n * a.BYTES_PER_ELEMENT);
    return [view(t.from), view(t.to), view(t.src), view(t.count)];
  }

  /** Takes over what a predecessor's snapshot() held. */
  restore(blobs: Buffer[]): void {
    const t = (this.t = new Table());
    const n = blobs[0].length / 8;
    t.reserve(n);
    [t.from, t.to, t.src, t.count].forEach((a, i) => new Uint8Array(a.buffer, a.byteOffset, blobs[i].length).set(blobs[i]));
    t.n = n;
  }

  /**
   * Visits, per source, how many entries in [from, to] were dropped (visit may be called more
   * than once per source). The part that cannot be attributed any more is visited as
   * UNKNOWN_SOURCE. Numbers in the range that were not dropped are simply not in the log.
   */
  each(from: number, to: number, visit: DropVisitor): void {
    const t = this.t;
    // first entry whose range ends at or after `from` (ranges are sorted and disjoint, so `to` is too)
    let lo = 0;
    let hi = t.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (t.to[mid] < from) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < t.n && t.from[i] <= to; i++) {
      const a = Math.max(t.from[i], from);
      const b = Math.min(t.to[i], to);
      if (a === t.from[i] && b === t.to[i]) visit(t.src[i], t.count[i]);
      else if (t.isRun(i)) visit(t.src[i], b - a + 1);
      else {
        // part of a group: which of its entries lie there is not known; count that part once
        visit(UNKNOWN_SOURCE, b - a + 1);
        while (i + 1 < t.n && t.from[i + 1] === t.from[i]) i++;
      }
    }
  }
}
