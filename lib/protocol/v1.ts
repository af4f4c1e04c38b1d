// Protocol v1 (LinuxKit memlogd, must not change): the client sends one mode byte, the server
// answers NDJSON entries {"time":"<RFC3339Nano>","source":"<name>","msg":"<line>"}. Also
// logread's text form of an entry. Pure.

import type { FastCopy } from '../wasm/fast-memory.js';
import { STDOUT_SUFFIX } from './constants.js';
import { ProtocolError } from './errors.js';
import { escapeJsonInto, maxEscapedLength } from './json.js';
import { formatTime } from './time.js';

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

/** Parses one NDJSON line from the query socket; throws ProtocolError when it is not an entry. */
export function parseEntry(line: string): V1Entry {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new ProtocolError('ERR_MEMLOGD_PROTOCOL', `malformed entry from memlogd: ${line.slice(0, 80)}`);
  }
  const e = v as Partial<V1Entry>;
  if (typeof e !== 'object' || e === null || typeof e.time !== 'string' || typeof e.source !== 'string' || typeof e.msg !== 'string') {
    throw new ProtocolError('ERR_MEMLOGD_PROTOCOL', `unexpected object from memlogd: ${line.slice(0, 80)}`);
  }
  return e as V1Entry;
}

/** A source name in logread's text form: every `;` written as `\;`. */
export function escapeSource(source: string): string {
  return source.includes(';') ? source.replaceAll(';', '\\;') : source;
}

/** logread's text form: `<time>;<source with ; as \;>;<msg>` (the message is not escaped). */
export function formatText(e: V1Entry): string {
  return `${e.time};${escapeSource(e.source)};${e.msg}`;
}

/** stdout or stderr, from LinuxKit init's naming convention (`<name>.out` is stdout). */
export function streamOf(source: string): 'stdout' | 'stderr' {
  return source.endsWith(STDOUT_SUFFIX) ? 'stdout' : 'stderr';
}
