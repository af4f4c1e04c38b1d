// What a v2 reader asked to see: source globs, stream, severities, time window, message regex. Runs in the
// daemon, per entry, so it must be cheap where it matters: the source decision is cached per
// source id, so a follower of one quiet source skips a flooding one with one array lookup per
// entry; time is two number comparisons; only grep decodes the message.

import { globToRegExp } from '../protocol/glob.js';
import { priorityBounds } from '../protocol/severity.js';
import { parseTime } from '../protocol/time.js';
import { streamOf } from '../protocol/v1.js';
import type { QueryRequest } from '../protocol/v2.js';
import type { Store } from './store.js';

export class Filter {
  private readonly include: RegExp[] | null;
  private readonly exclude: RegExp[];
  private readonly stream: 'stdout' | 'stderr' | undefined;
  private readonly since: [number, number] | null;
  readonly until: [number, number] | null;
  private readonly grep: RegExp | null;
  /** Severities shown: [most severe, least severe], or null for all. */
  private readonly severity: [number, number] | null;
  /** Per source id: 0 not decided yet, 1 shown, 2 hidden. */
  private bySource = new Uint8Array(64);

  private constructor(r: QueryRequest) {
    this.include = r.sources?.length ? r.sources.map(globToRegExp) : null;
    this.exclude = (r.exclude ?? []).map(globToRegExp);
    this.stream = r.stream;
    this.since = r.since ? parseTime(r.since) : null;
    this.until = r.until ? parseTime(r.until) : null;
    this.grep = r.grep !== undefined ? new RegExp(r.grep, 'u') : null;
    const sev = r.priority !== undefined ? priorityBounds(r.priority) : null;
    this.severity = sev && (sev[0] > 0 || sev[1] < 7) ? sev : null;
  }

  /** The filter of a request, or null when it filters nothing. */
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
      this.grep.lastIndex = 0;
      if (!this.grep.test(st.arena.toString('utf8', off, off + st.lens[p]))) return false;
    }
    return true;
  }

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
    if (v === 0) v = this.bySource[src] = this.sourceShown(st.sources[src].name.toString('utf8')) ? 1 : 2;
    return v === 1;
  }

  /** An entry older than `since` (used to tell whether vanished neighbours could have mattered). */
  beforeSince(sec: number, nsec: number): boolean {
    return this.since !== null && before(sec, nsec, this.since);
  }

  private sourceShown(name: string): boolean {
    if (this.include && !this.include.some((re) => re.test(name))) return false;
    if (this.exclude.some((re) => re.test(name))) return false;
    if (this.stream && streamOf(name) !== this.stream) return false;
    return true;
  }
}

function before(sec: number, nsec: number, t: [number, number]): boolean {
  return sec < t[0] || (sec === t[0] && nsec < t[1]);
}
