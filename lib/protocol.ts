// The wire protocol, in one place. Every binary and every test imports it from here:
// LinuxKit's own copies of this protocol drifted apart, ours must not.
//
// Protocol v1 (LinuxKit memlogd, must not change):
// - logging socket: AF_UNIX SOCK_DGRAM; payload = source name bytes, SCM_RIGHTS = fds to read.
// - query socket: AF_UNIX SOCK_STREAM; client sends one mode byte, server answers NDJSON
//   {"time","source","msg"} with Go's encoding/json escaping and RFC3339Nano times.
// This module is pure: no sockets, no I/O.

import type { FastCopy } from './wasm/fast-memory.js';

/** Reference default path of the logging (fd handoff) socket. */
export const DEFAULT_LOG_SOCKET = '/var/run/linuxkit-external-logging.sock';
/** Reference default path of the query socket. */
export const DEFAULT_QUERY_SOCKET = '/var/run/memlogdq.sock';

/** Query mode bytes (reference: logread sends one of these and nothing else). */
export const MODE_DUMP = 0;
export const MODE_FOLLOW = 1;
export const MODE_DUMP_FOLLOW = 2;

/** Reference reads at most 512 bytes of name from a logging datagram. */
export const MAX_NAME_LEN = 512;

/** Name under which memlogd records its own events (start, rejected input, reader gaps). */
export const SELF_SOURCE = 'memlogd';

/** Suffix LinuxKit init gives the stdout stream of a container; stderr has no suffix. */
export const STDOUT_SUFFIX = '.out';

// ---------------------------------------------------------------------------------------------
// Time: Go's time.Time JSON form (RFC3339Nano), always UTC.

const secCache = { sec: -1, text: '' };

/** RFC3339 with 0-9 fractional digits, trailing zeros trimmed, `Z` suffix (Go RFC3339Nano). */
export function formatTime(sec: number, nsec: number): string {
  if (sec !== secCache.sec) {
    secCache.sec = sec;
    secCache.text = new Date(sec * 1000).toISOString().slice(0, 19);
  }
  if (nsec === 0) return secCache.text + 'Z';
  let frac = String(nsec + 1_000_000_000).slice(1); // zero-padded to 9 digits
  let end = 9;
  while (frac.charCodeAt(end - 1) === 48 /* 0 */) end--;
  if (end < 9) frac = frac.slice(0, end);
  return secCache.text + '.' + frac + 'Z';
}

/** RFC3339 to whole seconds (logwrite's file format: `<RFC3339 seconds> <source> <msg>`). */
export function formatTimeSeconds(sec: number): string {
  return formatTime(sec, 0);
}

/** Parses an RFC3339(Nano) timestamp into [sec, nsec]; null when it is not one. */
export function parseTime(text: string): [number, number] | null {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (!m) return null;
  const ms = Date.parse(m[1] + (m[3] === 'Z' ? 'Z' : m[3]));
  if (Number.isNaN(ms)) return null;
  return [Math.floor(ms / 1000), m[2] ? Number(m[2].padEnd(9, '0')) : 0];
}

// ---------------------------------------------------------------------------------------------
// JSON strings exactly as Go's encoding/json writes them by default (HTML-safe):
// `"` `\` as `\"` `\\`; \b \f \n \r \t short forms (Go >= 1.22); other bytes < 0x20 as \u00xx;
// `<` `>` `&` as \u003c \u003e \u0026; U+2028/U+2029 as \u2028/\u2029; every byte that does not
// start a valid UTF-8 sequence as \ufffd (one per byte, like utf8.DecodeRune).

const HEX = '0123456789abcdef';
/** 0 = copy as is; 1 = needs escaping or is non-ASCII (slow path). */
const SPECIAL = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  SPECIAL[b] = b < 0x20 || b >= 0x80 || b === 0x22 || b === 0x5c || b === 0x3c || b === 0x3e || b === 0x26 ? 1 : 0;
}
const SHORT: Record<number, number> = { 0x08: 0x62, 0x0c: 0x66, 0x0a: 0x6e, 0x0d: 0x72, 0x09: 0x74, 0x22: 0x22, 0x5c: 0x5c };
const REPLACEMENT = Buffer.from('\\ufffd', 'latin1');

/** Length of the valid UTF-8 sequence starting at i (2-4), or 0 if invalid (Go's acceptRanges). */
function utf8SeqLen(src: Uint8Array, i: number, end: number): number {
  const b0 = src[i];
  if (b0 < 0xc2 || b0 > 0xf4) return 0;
  const cont = (j: number, lo = 0x80, hi = 0xbf) => j < end && src[j] >= lo && src[j] <= hi;
  if (b0 < 0xe0) return cont(i + 1) ? 2 : 0;
  if (b0 < 0xf0) {
    const lo = b0 === 0xe0 ? 0xa0 : 0x80;
    const hi = b0 === 0xed ? 0x9f : 0xbf; // no UTF-16 surrogates
    return cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
  }
  const lo = b0 === 0xf0 ? 0x90 : 0x80;
  const hi = b0 === 0xf4 ? 0x8f : 0xbf; // nothing above U+10FFFF
  return cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
}

/** Worst-case size of the escaped form of n bytes (every byte becomes \u00xx or \ufffd). */
export function maxEscapedLength(n: number): number {
  return n * 6;
}

/**
 * Writes src[start, end) JSON-escaped (without quotes) into out at o; returns the new offset.
 * out must have maxEscapedLength(end - start) bytes of room. With `fast`, and src and out both in
 * its memory, plain runs are found and copied by WebAssembly SIMD (which writes only what it copies).
 */
export function escapeJsonInto(src: Uint8Array, start: number, end: number, out: Uint8Array, o: number, fast?: FastCopy): number {
  const useFast = fast !== undefined && src.buffer === fast.buffer && out.buffer === fast.buffer;
  let i = start;
  while (i < end) {
    // A run of plain ASCII is copied as is.
    if (useFast) {
      const j = fast.copyClean(src.byteOffset + i, src.byteOffset + end, out.byteOffset + o) - src.byteOffset;
      o += j - i;
      i = j;
      if (i >= end) break;
    } else {
      let j = i;
      while (j < end && SPECIAL[src[j]] === 0) j++;
      if (j > i) {
        if (j - i > 16) out.set(src.subarray(i, j), o);
        else for (let k = i; k < j; k++) out[o + k - i] = src[k];
        o += j - i;
        i = j;
        if (i >= end) break;
      }
    }
    const b = src[i];
    if (b < 0x80) {
      const short = SHORT[b];
      if (short !== undefined) {
        out[o++] = 0x5c;
        out[o++] = short;
      } else {
        // control bytes and the HTML-sensitive < > &
        out[o++] = 0x5c; out[o++] = 0x75; out[o++] = 0x30; out[o++] = 0x30;
        out[o++] = HEX.charCodeAt(b >> 4); out[o++] = HEX.charCodeAt(b & 15);
      }
      i++;
      continue;
    }
    const n = utf8SeqLen(src, i, end);
    if (n === 0) {
      out.set(REPLACEMENT, o);
      o += 6;
      i++;
    } else if (n === 3 && b === 0xe2 && src[i + 1] === 0x80 && (src[i + 2] === 0xa8 || src[i + 2] === 0xa9)) {
      // U+2028 LINE SEPARATOR / U+2029 PARAGRAPH SEPARATOR: Go escapes them for JSONP safety
      out[o++] = 0x5c; out[o++] = 0x75; out[o++] = 0x32; out[o++] = 0x30; out[o++] = 0x32;
      out[o++] = src[i + 2] === 0xa8 ? 0x38 : 0x39;
      i += 3;
    } else {
      for (let k = 0; k < n; k++) out[o++] = src[i + k];
      i += n;
    }
  }
  return o;
}

/** Go-compatible JSON string literal (with quotes) of raw bytes. */
export function jsonString(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(maxEscapedLength(bytes.length) + 2);
  out[0] = 0x22;
  const o = escapeJsonInto(bytes, 0, bytes.length, out, 1);
  out[o] = 0x22;
  return Buffer.from(out.subarray(0, o + 1));
}

// ---------------------------------------------------------------------------------------------
// v1 entry encoding: {"time":"<RFC3339Nano>","source":"<name>","msg":"<line>"}\n

const P_TIME = Buffer.from('{"time":"');
const P_SOURCE = Buffer.from('","source":');
const P_MSG = Buffer.from(',"msg":"');
/** Fixed bytes of one v1 entry plus the longest time ("2006-01-02T15:04:05.999999999Z"). */
export const V1_ENTRY_OVERHEAD = P_TIME.length + 30 + P_SOURCE.length + P_MSG.length + 3;

/**
 * Encodes v1 NDJSON entries into a caller-owned buffer. Everything before the message is the
 * same for all lines of one chunk (same receive time, same source), so it is built once and
 * copied whole: one copy, the escaped message, three bytes.
 */
export class V1Encoder {
  private lastSec = -1;
  private lastNsec = -1;
  private lastSource: Uint8Array | null = null;
  private prefix = Buffer.alloc(0);

  /** fast: the SIMD copy of the memory the store and the output buffer live in, if any. */
  constructor(private readonly fast?: FastCopy) {}

  /** Worst-case bytes for one entry whose quoted JSON source is sourceJson. */
  static worstCase(sourceJson: Uint8Array, msgLen: number): number {
    return V1_ENTRY_OVERHEAD + sourceJson.length + maxEscapedLength(msgLen);
  }

  /** Writes one entry at o; sourceJson is the quoted JSON form of the name (see jsonString). */
  encode(out: Buffer, o: number, sec: number, nsec: number, sourceJson: Uint8Array,
    msg: Uint8Array, start: number, end: number): number {
    if (nsec !== this.lastNsec || sec !== this.lastSec || sourceJson !== this.lastSource) {
      this.lastSec = sec;
      this.lastNsec = nsec;
      this.lastSource = sourceJson;
      this.prefix = Buffer.concat([P_TIME, Buffer.from(formatTime(sec, nsec), 'latin1'), P_SOURCE, sourceJson, P_MSG]);
    }
    out.set(this.prefix, o);
    o = escapeJsonInto(msg, start, end, out, o + this.prefix.length, this.fast);
    out[o] = 0x22; // "
    out[o + 1] = 0x7d; // }
    out[o + 2] = 0x0a; // \n
    return o + 3;
  }
}

/** A decoded v1 entry as a client sees it. */
export interface V1Entry {
  time: string;
  source: string;
  msg: string;
}

/** Parses one NDJSON line from the query socket; throws a coded error when it is not an entry. */
export function parseEntry(line: string): V1Entry {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw Object.assign(new Error(`malformed entry from memlogd: ${line.slice(0, 80)}`), { code: 'ERR_MEMLOGD_PROTOCOL' });
  }
  const e = v as Partial<V1Entry>;
  if (typeof e !== 'object' || e === null || typeof e.time !== 'string' || typeof e.source !== 'string' || typeof e.msg !== 'string') {
    throw Object.assign(new Error(`unexpected object from memlogd: ${line.slice(0, 80)}`), { code: 'ERR_MEMLOGD_PROTOCOL' });
  }
  return e as V1Entry;
}

/** logread's text form: `<time>;<source with ; as \;>;<msg>` (the message is not escaped). */
export function formatText(e: V1Entry): string {
  return `${e.time};${e.source.includes(';') ? e.source.replaceAll(';', '\\;') : e.source};${e.msg}`;
}

/** stdout or stderr, from LinuxKit init's naming convention (`<name>.out` is stdout). */
export function streamOf(source: string): 'stdout' | 'stderr' {
  return source.endsWith(STDOUT_SUFFIX) ? 'stdout' : 'stderr';
}

// ---------------------------------------------------------------------------------------------
// Protocol v2 (docs/protocol.md): a one-line JSON request, NDJSON records with seq and cursors.

/** Largest v2 request line (bytes, newline included). */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** First byte of a v2 request. */
export const V2_REQUEST_BYTE = 0x7b; // {

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
}

/** A protocol error a client can branch on (also what the server sends in an error record). */
export class ProtocolError extends Error {
  constructor(readonly code: 'ERR_BAD_REQUEST' | 'ERR_REQUEST_TOO_LARGE' | 'ERR_ACCESS_DENIED' | 'ERR_MEMLOGD_PROTOCOL', message: string) {
    super(message);
  }
}

const MODES: QueryMode[] = ['dump', 'follow', 'dump+follow', 'stats'];
const FIELDS = new Set(['mode', 'after', 'sources', 'exclude', 'stream', 'since', 'until', 'tail', 'grep']);

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
    for (const x of g as string[]) globToRegExp(x); // throws on a bad glob
  }
  if (r.stream !== undefined && r.stream !== 'stdout' && r.stream !== 'stderr') throw bad('stream must be "stdout" or "stderr"');
  for (const k of ['since', 'until'] as const) {
    if (r[k] !== undefined && (typeof r[k] !== 'string' || parseTime(r[k] as string) === null)) throw bad(`${k} must be an RFC3339 time`);
  }
  if (r.tail !== undefined && (typeof r.tail !== 'number' || !Number.isInteger(r.tail) || r.tail < 0)) throw bad('tail must be an integer >= 0');
  if (r.grep !== undefined) {
    if (typeof r.grep !== 'string') throw bad('grep must be a string');
    try {
      new RegExp(r.grep, 'u');
    } catch (err) {
      throw bad(`grep is not a valid regular expression: ${(err as Error).message}`);
    }
  }
  return r as unknown as QueryRequest;
}

/** `<instance>:<seq>` */
export function formatCursor(instance: string, seq: number): string {
  return `${instance}:${seq}`;
}

export function parseCursor(s: string): { instance: string; seq: number } | null {
  const m = /^([0-9a-f]{1,64}):(\d{1,16})$/.exec(s);
  if (!m) return null;
  const seq = Number(m[2]);
  return Number.isSafeInteger(seq) ? { instance: m[1], seq } : null;
}

/** A glob (`*`, `?`, `[...]`) as an anchored RegExp; throws ProtocolError on a malformed one. */
export function globToRegExp(glob: string): RegExp {
  let re = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) throw new ProtocolError('ERR_BAD_REQUEST', `unclosed [ in glob ${JSON.stringify(glob)}`);
      let cls = glob.slice(i + 1, close);
      if (cls.startsWith('!')) cls = '^' + cls.slice(1);
      re += '[' + cls.replace(/\\/g, '\\\\') + ']';
      i = close;
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  try {
    return new RegExp(re + '$', 's');
  } catch {
    throw new ProtocolError('ERR_BAD_REQUEST', `bad glob ${JSON.stringify(glob)}`);
  }
}

/** Encodes v2 entries: {"seq","time","source","stream","msg"[,"partial":true]}. */
export class V2Encoder {
  private lastSec = -1;
  private lastNsec = -1;
  private timeBytes = Buffer.alloc(0);

  constructor(private readonly fast?: FastCopy) {}

  static worstCase(sourceJson: Uint8Array, msgLen: number): number {
    return V1_ENTRY_OVERHEAD + 64 + sourceJson.length + maxEscapedLength(msgLen);
  }

  encode(out: Buffer, o: number, seq: number, sec: number, nsec: number, sourceJson: Uint8Array, stdout: boolean,
    msg: Uint8Array, start: number, end: number, partial: boolean): number {
    if (sec !== this.lastSec || nsec !== this.lastNsec) {
      this.lastSec = sec;
      this.lastNsec = nsec;
      this.timeBytes = Buffer.from(formatTime(sec, nsec), 'latin1');
    }
    o += out.write(`{"seq":${seq},"time":"`, o, 'latin1');
    out.set(this.timeBytes, o);
    o += this.timeBytes.length;
    o += out.write('","source":', o, 'latin1');
    out.set(sourceJson, o);
    o += sourceJson.length;
    o += out.write(stdout ? ',"stream":"stdout","msg":"' : ',"stream":"stderr","msg":"', o, 'latin1');
    o = escapeJsonInto(msg, start, end, out, o, this.fast);
    o += out.write(partial ? '","partial":true}\n' : '"}\n', o, 'latin1');
    return o;
  }
}

// v2 records other than entries (they carry a "type").
export interface StartRecord { type: 'start'; instance: string; oldest: number; next: number }
export interface GapRecord { type: 'gap'; from: number; to: number; count: number; reason: 'evicted' | 'lagged' | 'restarted'; previous?: string }
export interface EndRecord { type: 'end'; next: number }
export interface ErrorRecord { type: 'error'; code: string; message: string }
export interface StatsRecord { type: 'stats'; [k: string]: unknown }
export interface V2Entry { seq: number; time: string; source: string; stream: Stream; msg: string; partial?: boolean; type?: undefined }
export type V2Record = V2Entry | StartRecord | GapRecord | EndRecord | ErrorRecord | StatsRecord;

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
  return r;
}

// Encoders of the v2 records other than entries (without the trailing newline); the key order
// is part of the protocol (docs/protocol.md).

export function encodeStart(instance: string, oldest: number, next: number): string {
  return JSON.stringify({ type: 'start', instance, oldest, next });
}

export function encodeGap(g: Omit<GapRecord, 'type'>): string {
  return JSON.stringify({ type: 'gap', from: g.from, to: g.to, count: g.count, reason: g.reason, ...(g.previous ? { previous: g.previous } : {}) });
}

export function encodeEnd(next: number): string {
  return `{"type":"end","next":${next}}`;
}

export function encodeError(code: string, message: string): string {
  return JSON.stringify({ type: 'error', code, message });
}

export function encodeStats(stats: Record<string, unknown>): string {
  return JSON.stringify({ type: 'stats', ...stats });
}

export function gapMessageV1(g: { from: number; to: number; count: number; reason: string }): string {
  const what = g.count === 1 ? '1 entry' : `${g.count} entries`;
  if (g.reason === 'lagged') return `gap: this reader fell behind and missed ${what} (seq ${g.from}-${g.to}), evicted before it read them`;
  if (g.reason === 'restarted') {
    return g.count === 0
      ? 'gap: memlogd restarted; what it held after the previous cursor is gone'
      : `gap: memlogd restarted; what it held after the previous cursor is gone, and ${what} of the new instance (seq ${g.from}-${g.to}) too`;
  }
  return `gap: ${what} (seq ${g.from}-${g.to}) evicted earlier to make room`;
}
