// The stats record (`{"mode":"stats"}`): what memlogd reports about its store, its sources and
// its readers (docs/protocol.md). memlogd builds a StatsRecord; a client reads one with
// readStats, which checks every field once, so a consumer only sees fields of the right type
// (a field an older or newer memlogd does not send is simply absent). Pure.

export interface StoreStats {
  lines: number;
  bytes: number;
  maxLines: number;
  maxBytes: number;
  /** Sequence numbers of the oldest entry held and of the next one. */
  oldest: number;
  next: number;
  oldestTime: string | null;
  evicted: number;
}

/** What the store counts per source (also the store's own per-source record). */
export interface SourceCounts {
  /** Live entries / message bytes held now. */
  lines: number;
  bytes: number;
  /** Totals since the source first appeared. */
  totalLines: number;
  totalBytes: number;
  evicted: number;
  /** Entries that are pieces of a longer line. */
  partial: number;
  /** Lines since the source first appeared, by severity (index 0 emerg ... 7 debug). */
  severities: number[];
}

export interface SourceStats extends SourceCounts {
  name: string;
  /** Who last handed over an fd for this source (-1: not known), and fds open now. */
  pid: number;
  uid: number;
  fds: number;
  firstSeen: string;
  lastSeen: string;
}

export interface ReaderStats {
  id: number;
  mode: string;
  pid: number;
  uid: number;
  position: number;
  lag: number;
  gaps: number;
  missed: number;
  sent: number;
}

export interface StatsRecord {
  type: 'stats';
  instance: string;
  /** The serving process (`memlogd --restart` signals it). */
  pid: number;
  /** Seconds since memlogd started. */
  uptime: number;
  store: StoreStats;
  sources: SourceStats[];
  readers: ReaderStats[];
}

/** The daemon-wide part of a stats record; the query server adds the readers. */
export type DaemonStats = Omit<StatsRecord, 'type' | 'readers'>;

type Partly<T> = { [K in keyof T]?: T[K] };

/** A stats record as a client received it: every field checked, any may be missing. */
export interface ReceivedStats {
  type: 'stats';
  instance?: string;
  pid?: number;
  uptime?: number;
  store?: Partly<StoreStats>;
  sources?: Array<Partly<SourceStats>>;
  readers?: Array<Partly<ReaderStats>>;
}

const KINDS = {
  store: { lines: 'n', bytes: 'n', maxLines: 'n', maxBytes: 'n', oldest: 'n', next: 'n', oldestTime: 's', evicted: 'n' },
  source: {
    name: 's', lines: 'n', bytes: 'n', totalLines: 'n', totalBytes: 'n', evicted: 'n', partial: 'n', severities: 'a', pid: 'n', uid: 'n', fds: 'n',
    firstSeen: 's', lastSeen: 's',
  },
  reader: { id: 'n', mode: 's', pid: 'n', uid: 'n', position: 'n', lag: 'n', gaps: 'n', missed: 'n', sent: 'n' },
} as const;

/** n: a number, s: a string, a: an array of numbers. */
type Kind = 'n' | 's' | 'a';

const isNumber = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

function pick(v: unknown, kinds: Record<string, Kind>): Record<string, string | number | number[]> {
  const out: Record<string, string | number | number[]> = {};
  if (typeof v !== 'object' || v === null) return out;
  for (const [k, kind] of Object.entries(kinds)) {
    const x = (v as Record<string, unknown>)[k];
    if (kind === 'n' ? isNumber(x) : kind === 's' ? typeof x === 'string' : Array.isArray(x) && x.every(isNumber)) out[k] = x as string | number | number[];
  }
  return out;
}

const list = (v: unknown, kinds: Record<string, Kind>) => (Array.isArray(v) ? v.map((x) => pick(x, kinds)) : undefined);

/** A received stats record with every field checked (wrong types dropped). */
export function readStats(v: Record<string, unknown>): ReceivedStats {
  const r: ReceivedStats = { type: 'stats' };
  if (typeof v.instance === 'string') r.instance = v.instance;
  if (typeof v.pid === 'number') r.pid = v.pid;
  if (typeof v.uptime === 'number' && Number.isFinite(v.uptime)) r.uptime = v.uptime;
  if (typeof v.store === 'object' && v.store !== null) r.store = pick(v.store, KINDS.store);
  r.sources = list(v.sources, KINDS.source);
  r.readers = list(v.readers, KINDS.reader);
  return r;
}
