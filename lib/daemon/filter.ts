// What a v2 reader asked to see: source globs, stream, severities, time window, message regex. Runs in the
// daemon, per entry, so it must be cheap where it matters: the source decision is cached per
// source id, so a follower of one quiet source skips a flooding one with one array lookup per
// entry; time is two number comparisons; only grep decodes the message.
//
// What one reader's filter may cost is bounded: globs match in linear time (protocol/glob.ts),
// grep runs where V8 can bound it (grep.ts), and the main-thread time both use is metered per
// reader against a budget (a token bucket). A reader whose filter runs out of it is `exhausted`:
// the query server ends that request with ERR_QUERY_TOO_EXPENSIVE, and no one else waits longer
// than the budget's burst for it.

import { compileGlob, type Glob } from '../protocol/glob.js';
import { priorityBounds } from '../protocol/severity.js';
import { parseTime } from '../protocol/time.js';
import { streamOf } from '../protocol/v1.js';
import type { QueryRequest } from '../protocol/v2.js';
import { compileGrep } from './grep.js';
import type { Store } from './store.js';

/**
 * Main-thread time a reader's filter may use in one go (ms). A legitimate one needs far less:
 * a grep costs ~0.1-1 us per entry here, so a dump of the ~70,000 entries memlogd can hold at
 * most takes ~70 ms. 250 ms is a hiccup the others notice only as latency.
 */
export const FILTER_BURST_MS = 250;
/** Share of the time passing that is given back to the budget (10 %: a follower may spend 100 ms/s). */
const FILTER_REFILL = 0.1;

export class Filter {
  private readonly include: Glob[] | null;
  private readonly exclude: Glob[];
  private readonly stream: 'stdout' | 'stderr' | undefined;
  private readonly since: [number, number] | null;
  readonly until: [number, number] | null;
  private readonly grep: RegExp | null;
  /** Severities shown: [most severe, least severe], or null for all. */
  private readonly severity: [number, number] | null;
  /** Per source id: 0 not decided yet, 1 shown, 2 hidden. */
  private bySource = new Uint8Array(64);
  /** Main-thread time left to this filter (ms), as of `budgetAt` (performance.now()). */
  private budget = FILTER_BURST_MS;
  private budgetAt = performance.now();
  /** Set once the filter has used more time than its budget: its request must end. */
  exhausted = false;

  private constructor(r: QueryRequest) {
    this.include = r.sources?.length ? r.sources.map(compileGlob) : null;
    this.exclude = (r.exclude ?? []).map(compileGlob);
    this.stream = r.stream;
    this.since = r.since ? parseTime(r.since) : null;
    this.until = r.until ? parseTime(r.until) : null;
    this.grep = r.grep !== undefined ? compileGrep(r.grep) : null;
    const sev = r.priority !== undefined ? priorityBounds(r.priority) : null;
    this.severity = sev && (sev[0] > 0 || sev[1] < 7) ? sev : null;
  }

  /** The filter of a request, or null when it filters nothing. Throws ProtocolError for a refused grep. */
  static of(r: QueryRequest): Filter | null {
    const f = new Filter(r);
    return f.include || f.exclude.length || f.stream || f.since || f.until || f.grep || f.severity ? f : null;
  }

  /** Is the entry at index position p of the store one the reader wants? */
  matches(st: Store, p: number): boolean {
    if (!this.wantsSource(st, st.srcs[p])) return false;
    if (this.severity !== null) {
      const sev = st.pris[p] & 7;
      if (sev < this.severity[0] || sev > this.severity[1]) return false;
    }
    if (this.since !== null && before(st.secs[p], st.nsecs[p], this.since)) return false;
    if (this.until !== null && !before(st.secs[p], st.nsecs[p], this.until)) return false;
    if (this.grep !== null) {
      const off = st.offs[p];
      const t0 = performance.now();
      const hit = this.grep.test(st.arena.toString('utf8', off, off + st.lens[p]));
      this.charge(t0);
      if (!hit) return false;
    }
    return true;
  }

  /** Takes the time since t0 from the budget, after refilling it for the time before t0. */
  private charge(t0: number): void {
    const now = performance.now();
    this.budget = Math.min(FILTER_BURST_MS, this.budget + (t0 - this.budgetAt) * FILTER_REFILL) - (now - t0);
    this.budgetAt = now;
    if (this.budget < 0) this.exhausted = true;
  }

  /** Why an exhausted filter's request is ended (the error record's message). */
  static readonly EXHAUSTED_MESSAGE = `the request's filter (grep, source globs) used more than ${FILTER_BURST_MS} ms of memlogd's time ` +
    `beyond its share (${FILTER_REFILL * 100} %); narrow it with sources or a simpler grep`;

  /**
   * Could the reader want entries of source id src (its name and stream pass)? All that is
   * known of an entry no longer in memory, so a gap counts those of wanted sources.
   */
  wantsSource(st: Store, src: number): boolean {
    if (src >= this.bySource.length) {
      const grown = new Uint8Array(Math.max(src + 1, this.bySource.length * 2));
      grown.set(this.bySource);
      this.bySource = grown;
    }
    let v = this.bySource[src];
    if (v === 0) {
      const t0 = performance.now();
      v = this.bySource[src] = this.sourceShown(st.sources[src].name.toString('utf8')) ? 1 : 2;
      this.charge(t0);
    }
    return v === 1;
  }

  /** An entry older than `since` (used to tell whether vanished neighbours could have mattered). */
  beforeSince(sec: number, nsec: number): boolean {
    return this.since !== null && before(sec, nsec, this.since);
  }

  private sourceShown(name: string): boolean {
    if (this.include && !this.include.some((g) => g.matches(name))) return false;
    if (this.exclude.some((g) => g.matches(name))) return false;
    if (this.stream && streamOf(name) !== this.stream) return false;
    return true;
  }
}

function before(sec: number, nsec: number, t: [number, number]): boolean {
  return sec < t[0] || (sec === t[0] && nsec < t[1]);
}
