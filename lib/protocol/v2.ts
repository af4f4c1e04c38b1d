// Protocol v2 (docs/protocol.md): a one-line JSON request; NDJSON records with sequence numbers,
// cursors, and typed start/gap/end/error/stats records. Requests, records, their encoders, and
// the one decoder of entries every client uses. Pure.

import type { FastCopy } from '../wasm/fast-memory.js';
import { ProtocolError } from './errors.js';
import { parseCursor } from './cursor.js';
import { compileGlob } from './glob.js';
import { escapeJsonInto, jsonString, maxEscapedLength } from './json.js';
import { facilityOf, packPri, priorityBounds, severityOf, streamSeverity } from './severity.js';
import { readStats, type ReceivedStats, type StatsRecord } from './stats.js';
import { formatTime, parseTime } from './time.js';
import { V1_ENTRY_OVERHEAD } from './v1.js';

export type QueryMode = 'dump' | 'follow' | 'dump+follow' | 'stats';
export type Stream = 'stdout' | 'stderr';

export interface QueryRequest {
  mode: QueryMode;
  /** Resume strictly after this cursor (`<instance>:<seq>`). */
  after?: string;
  sources?: string[];
  exclude?: string[];
  stream?: Stream;
  /** RFC3339 times. */
  since?: string;
  until?: string;
  tail?: number;
  grep?: string;
  /**
   * Severities to show: N shows 0 (emerg) to N, as journalctl's `-p N`; [from, to] shows that
   * range (both ends included, from <= to).
   */
  priority?: number | [number, number];
}

const MODES: QueryMode[] = ['dump', 'follow', 'dump+follow', 'stats'];
const FIELDS = new Set(['mode', 'after', 'sources', 'exclude', 'stream', 'since', 'until', 'tail', 'grep', 'priority']);

/** A v2 request as it goes on the wire: one JSON line. */
export function encodeRequest(req: QueryRequest): Buffer {
  return Buffer.from(JSON.stringify(req) + '\n', 'utf8');
}

/** Parses and validates a v2 request line; throws ProtocolError(ERR_BAD_REQUEST). */
export function parseRequest(line: string): QueryRequest {
  const bad = (m: string) => new ProtocolError('ERR_BAD_REQUEST', m);
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw bad('request is not valid JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('request must be a JSON object');
  const r = v as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!FIELDS.has(k)) throw bad(`unknown field ${JSON.stringify(k)}`);
  if (!MODES.includes(r.mode as QueryMode)) throw bad(`mode must be one of ${MODES.map((m) => JSON.stringify(m)).join(', ')}`);
  if (r.after !== undefined && (typeof r.after !== 'string' || parseCursor(r.after) === null)) throw bad('after must be a cursor "<instance>:<seq>"');
  for (const k of ['sources', 'exclude'] as const) {
    const g = r[k];
    if (g === undefined) continue;
    if (!Array.isArray(g) || g.some((x) => typeof x !== 'string')) throw bad(`${k} must be an array of glob strings`);
    for (const x of g as string[]) compileGlob(x); // throws on a bad glob
  }
  if (r.stream !== undefined && r.stream !== 'stdout' && r.stream !== 'stderr') throw bad('stream must be "stdout" or "stderr"');
  for (const k of ['since', 'until'] as const) {
    if (r[k] !== undefined && (typeof r[k] !== 'string' || parseTime(r[k] as string) === null)) throw bad(`${k} must be an RFC3339 time`);
  }
  if (r.priority !== undefined && priorityBounds(r.priority) === null) throw bad('priority must be a severity 0-7 or a range [from, to] of them (from <= to)');
  if (r.tail !== undefined && (typeof r.tail !== 'number' || !Number.isInteger(r.tail) || r.tail < 0)) throw bad('tail must be an integer >= 0');
  if (r.grep !== undefined) {
    if (typeof r.grep !== 'string') throw bad('grep must be a string');
    // JavaScript syntax without the u flag: the daemon runs it in V8's linear-time engine, which
    // has no Unicode mode (lib/daemon/grep.ts checks the rest)
    try {
      new RegExp(r.grep);
    } catch (err) {
      throw bad(`grep is not a valid regular expression: ${(err as Error).message}`);
    }
  }
  return r as unknown as QueryRequest;
}

const P_SEQ = Buffer.from('{"seq":');
const END_PLAIN = Buffer.from('"}\n');
const END_PARTIAL = Buffer.from('","partial":true}\n');

/**
 * Encodes v2 entries: {"seq","time","source","stream","severity"[,"facility"],"msg"[,"partial":true]}.
 * As with v1, all that follows the sequence number up to the message is the same for the lines of
 * one chunk (time, source, stream, priority): built once, copied whole; the digits one by one.
 */
export class V2Encoder {
  private lastSec = -1;
  private lastNsec = -1;
  private lastSource: Uint8Array | null = null;
  private lastStdout = false;
  private lastPri = -1;
  private middle = Buffer.alloc(0);

  constructor(private readonly fast?: FastCopy) {}

  /**
   * Bytes one entry can take at most. Beyond v1's: `{"seq":` and 16 digits, `,"stream":"stdout"`,
   * `,"severity":N,"facility":NN`, `,"partial":true` (83; 64 was short by 19 once severity and
   * facility came, which the encoder property test found with encodeEntry).
   */
  static worstCase(sourceJson: Uint8Array, msgLen: number): number {
    return V1_ENTRY_OVERHEAD + 96 + sourceJson.length + maxEscapedLength(msgLen);
  }

  /** pri: the store's priority byte (severity.ts packPri). */
  encode(out: Buffer, o: number, seq: number, sec: number, nsec: number, sourceJson: Uint8Array, stdout: boolean,
    msg: Uint8Array, start: number, end: number, partial: boolean, pri: number): number {
    if (sec !== this.lastSec || nsec !== this.lastNsec || sourceJson !== this.lastSource || stdout !== this.lastStdout || pri !== this.lastPri) {
      this.lastSec = sec;
      this.lastNsec = nsec;
      this.lastSource = sourceJson;
      this.lastStdout = stdout;
      this.lastPri = pri;
      const fac = facilityOf(pri);
      this.middle = Buffer.concat([Buffer.from(`,"time":"${formatTime(sec, nsec)}","source":`, 'latin1'), sourceJson,
        Buffer.from(`,"stream":"${stdout ? 'stdout' : 'stderr'}","severity":${severityOf(pri)}${fac === null ? '' : `,"facility":${fac}`},"msg":"`, 'latin1')]);
    }
    out.set(P_SEQ, o);
    o = writeDigits(out, o + P_SEQ.length, seq);
    out.set(this.middle, o);
    o = escapeJsonInto(msg, start, end, out, o + this.middle.length, this.fast);
    const tail = partial ? END_PARTIAL : END_PLAIN;
    out.set(tail, o);
    return o + tail.length;
  }
}

/** The decimal digits of a non-negative integer (below 2^53) at o; returns the new offset. */
function writeDigits(out: Buffer, o: number, n: number): number {
  if (n < 10) {
    out[o] = 48 + n;
    return o + 1;
  }
  let digits = 0;
  for (let m = n; m >= 1; m = Math.floor(m / 10)) digits++;
  for (let i = o + digits - 1; i >= o; i--) {
    out[i] = 48 + (n % 10);
    n = Math.floor(n / 10);
  }
  return o + digits;
}

/**
 * A decoded entry as the line memlogd sends (without the newline), through V2Encoder, so a client
 * that changes an entry (logbundle masking a secret) writes it exactly as memlogd would. Null when
 * its time is not an RFC3339 time.
 */
export function encodeEntry(e: V2Entry): string | null {
  const t = parseTime(e.time);
  if (!t) return null;
  const source = jsonString(Buffer.from(e.source, 'utf8'));
  const msg = Buffer.from(e.msg, 'utf8');
  const out = Buffer.allocUnsafe(V2Encoder.worstCase(source, msg.length));
  const pri = packPri(e.severity ?? streamSeverity(e.stream), e.facility ?? null);
  const n = new V2Encoder().encode(out, 0, e.seq, t[0], t[1], source, e.stream === 'stdout', msg, 0, msg.length, e.partial === true, pri);
  return out.toString('utf8', 0, n - 1);
}

// v2 records other than entries (they carry a "type").
export type GapReason = 'evicted' | 'lagged' | 'restarted';
/**
 * Per source name, how many of some missed entries were its (docs/protocol.md), as a client
 * decodes it. A source may be called `__proto__`: read it with Object.entries, never index a
 * plain object with its names.
 */
export type BySource = Record<string, number>;
/** The same to encode: in the order given (most first, memlogd's choice), a name twice adds up. */
export type BySourceList = ReadonlyArray<readonly [name: string, count: number]>;
export interface StartRecord {
  type: 'start'; instance: string; oldest: number; next: number;
  /** Whose the entries before `oldest` were (all evicted); absent when none were, or it is not known. */
  evicted?: BySource;
}
export interface GapRecord {
  type: 'gap'; from: number; to: number; count: number; reason: GapReason; previous?: string;
  /** Whose the `count` missed entries were; sums to count. Absent when not known (see docs/protocol.md). */
  sources?: BySource;
}
export interface EndRecord { type: 'end'; next: number }
export interface ErrorRecord { type: 'error'; code: string; message: string }
export interface V2Entry {
  seq: number;
  time: string;
  source: string;
  stream: Stream;
  /** RFC 5424 severity 0-7 (memlogd from this version on; absent from an older one). */
  severity?: number;
  /** RFC 5424 facility 0-23, when the source said (syslog, `<N>` with N >= 8). */
  facility?: number;
  msg: string;
  partial?: boolean;
  type?: undefined;
}
export type V2Record = V2Entry | StartRecord | GapRecord | EndRecord | ErrorRecord | ReceivedStats;

/** One NDJSON line of a v2 answer; throws ProtocolError(ERR_MEMLOGD_PROTOCOL) if it is none. */
export function parseRecord(line: string): V2Record {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new ProtocolError('ERR_MEMLOGD_PROTOCOL', `malformed record from memlogd: ${line.slice(0, 80)}`);
  }
  const r = v as V2Record;
  if (typeof r !== 'object' || r === null) throw new ProtocolError('ERR_MEMLOGD_PROTOCOL', `unexpected record from memlogd: ${line.slice(0, 80)}`);
  if (r.type === undefined && (typeof r.seq !== 'number' || typeof r.msg !== 'string' || typeof r.source !== 'string')) {
    throw new ProtocolError('ERR_MEMLOGD_PROTOCOL', `unexpected record from memlogd: ${line.slice(0, 80)}`);
  }
  if (r.type === 'stats') return readStats(v as Record<string, unknown>);
  return r;
}

/**
 * A v2 entry line in the exact shape memlogd writes it (V2Encoder), read without JSON.parse when
 * no string in it needs unescaping (most lines); anything else (other records, escapes, another
 * key order, a field it does not know) returns null and goes through parseRecord, so a daemon
 * that adds fields is still read correctly.
 */
export function decodeEntry(line: string): V2Entry | null {
  if (!line.startsWith('{"seq":')) return null;
  let i = 7;
  let seq = 0;
  for (; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c < 48 || c > 57) break;
    seq = seq * 10 + (c - 48);
  }
  if (i === 7 || !line.startsWith(',"time":"', i)) return null;
  i += 9;
  const tEnd = line.indexOf('"', i);
  if (tEnd < 0) return null;
  const time = line.slice(i, tEnd);
  if (!line.startsWith(',"source":"', tEnd + 1)) return null;
  i = tEnd + 12;
  const sEnd = line.indexOf('"', i);
  if (sEnd < 0) return null;
  const source = line.slice(i, sEnd);
  if (source.includes('\\')) return null;
  let stream: Stream;
  if (line.startsWith(',"stream":"stdout"', sEnd + 1)) stream = 'stdout';
  else if (line.startsWith(',"stream":"stderr"', sEnd + 1)) stream = 'stderr';
  else return null;
  i = sEnd + 19;
  let severity: number | undefined;
  let facility: number | undefined;
  if (line.startsWith(',"severity":', i)) {
    const c = line.charCodeAt(i + 12);
    if (c < 48 || c > 55) return null;
    severity = c - 48;
    i += 13;
    if (line.startsWith(',"facility":', i)) {
      let f = 0;
      let k = i + 12;
      for (; k < line.length && line.charCodeAt(k) >= 48 && line.charCodeAt(k) <= 57; k++) f = f * 10 + line.charCodeAt(k) - 48;
      if (k === i + 12) return null;
      facility = f;
      i = k;
    }
  }
  if (!line.startsWith(',"msg":"', i)) return null;
  i += 8;
  let partial = false;
  let mEnd: number;
  if (line.endsWith('"}')) mEnd = line.length - 2;
  else if (line.endsWith('","partial":true}')) {
    mEnd = line.length - 17;
    partial = true;
  } else return null;
  if (mEnd < i) return null;
  const msg = line.slice(i, mEnd);
  if (msg.includes('\\') || msg.includes('"')) return null;
  const e: V2Entry = {
    seq, time, source, stream, ...(severity !== undefined ? { severity } : {}), ...(facility !== undefined ? { facility } : {}), msg,
  };
  if (partial) e.partial = true;
  return e;
}

/** Any v2 line as a record: the fast decoder first, JSON.parse for the rest. */
export function decodeRecord(line: string): V2Record {
  return decodeEntry(line) ?? parseRecord(line);
}

// Encoders of the v2 records other than entries (without the trailing newline); the key order
// is part of the protocol (docs/protocol.md).

export function encodeStart(instance: string, oldest: number, next: number, evicted?: BySource | BySourceList): string {
  return JSON.stringify({ type: 'start', instance, oldest, next }).slice(0, -1) + countsField('evicted', evicted) + '}';
}

export function encodeGap(g: Omit<GapRecord, 'type' | 'sources'> & { sources?: BySource | BySourceList }): string {
  return JSON.stringify({ type: 'gap', from: g.from, to: g.to, count: g.count, reason: g.reason, ...(g.previous ? { previous: g.previous } : {}) })
    .slice(0, -1) + countsField('sources', g.sources) + '}';
}

/** Counts by name in the order given, a name given twice added up; zero counts left out. */
export function bySourceList(counts: BySource | BySourceList): Array<[string, number]> {
  const m = new Map<string, number>();
  for (const [name, n] of Array.isArray(counts) ? counts : Object.entries(counts)) if (n > 0) m.set(name, (m.get(name) ?? 0) + n);
  return [...m];
}

/**
 * `,"<key>":{"<name>":<count>,...}` in the order given (a JSON object of the counts would put
 * names that look like integers first), or nothing when there are none.
 */
function countsField(key: string, counts: BySource | BySourceList | undefined): string {
  const list = counts ? bySourceList(counts) : [];
  if (list.length === 0) return '';
  return `,"${key}":{${list.map(([name, n]) => `${JSON.stringify(name)}:${n}`).join(',')}}`;
}

export function encodeEnd(next: number): string {
  return `{"type":"end","next":${next}}`;
}

export function encodeError(code: string, message: string): string {
  return JSON.stringify({ type: 'error', code, message });
}

export function encodeStats(stats: Omit<StatsRecord, 'type'>): string {
  return JSON.stringify({ type: 'stats', ...stats });
}
