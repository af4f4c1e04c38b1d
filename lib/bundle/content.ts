// An item's bytes on their way into the archive: masked (gzip files decompressed, masked and
// compressed again), then, for the log directory's files, fitted into what is left of --max-size,
// keeping the newest bytes. No files or sockets: bytes in, bytes out.

import { isUtf8 } from 'node:buffer';
import zlib from 'node:zlib';
import type { Counts, Redactor } from './redact.js';
import { Skip } from './task.js';

/**
 * Bytes as text and back without loss: UTF-8 when they are valid UTF-8, otherwise latin1 (one
 * character per byte), so a binary or mis-encoded file is still masked and otherwise unchanged.
 */
function asText(data: Buffer): { text: string; encoding: 'utf8' | 'latin1' } {
  const encoding = isUtf8(data) ? 'utf8' : 'latin1';
  return { text: data.toString(encoding), encoding };
}

/** Everything a gzip stream holds, also when it is cut short (a file being compressed right now). */
export function gunzipAll(data: Buffer): { plain: Buffer; complete: boolean } {
  try {
    return { plain: zlib.gunzipSync(data), complete: true };
  } catch {
    // Z_SYNC_FLUSH: return what decompressed so far instead of failing on the missing end
    return { plain: zlib.gunzipSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH }), complete: false };
  }
}

export interface Masked {
  data: Buffer;
  /** The decompressed (masked) bytes of a gzip item. */
  plain?: Buffer;
  counts: Counts;
  notes: string[];
}

/** How much of an item is looked at to tell text from binary (what file(1) and git look at too). */
const SNIFF_BYTES = 8192;

/**
 * The item's bytes with secrets masked. Throws Skip for binary data (a NUL byte near the start:
 * wtmp, an xz or zstd file), where masking is meaningless and secrets could not be found, and an
 * error when a gzip item cannot be read at all.
 */
export function maskBytes(data: Buffer, gzip: boolean, redactor: Redactor): Masked {
  const notes: string[] = [];
  let plain = data;
  if (gzip) {
    const g = gunzipAll(data);
    plain = g.plain;
    if (!g.complete) notes.push('gzip stream ends early (still being written?): archived what it held, compressed again');
  }
  if (plain.subarray(0, SNIFF_BYTES).includes(0)) throw new Skip('binary, not text: secrets in it cannot be masked, so not archived (with --no-redact and no --redact, it is)');
  const { text, encoding } = asText(plain);
  const r = redactor.text(text);
  const changed = r.text !== text;
  if (!changed && !(gzip && notes.length)) return { data, plain: gzip ? plain : undefined, counts: r.counts, notes };
  const masked = changed ? Buffer.from(r.text, encoding) : plain;
  return gzip ? { data: zlib.gzipSync(masked), plain: masked, counts: r.counts, notes } : { data: masked, counts: r.counts, notes };
}

/**
 * The last `max` bytes of buf, starting at a line: after the first newline in them (or, when they
 * hold none, at a UTF-8 character boundary). Empty when not even that fits.
 */
export function newestBytes(buf: Buffer, max: number): Buffer {
  if (buf.length <= max) return buf;
  if (max <= 0) return buf.subarray(buf.length);
  let start = buf.length - max;
  if (buf[start - 1] !== 0x0a) {
    const nl = buf.indexOf(0x0a, start);
    if (nl >= 0 && nl + 1 < buf.length) start = nl + 1;
    else while (start < buf.length && (buf[start] & 0xc0) === 0x80) start++;
  }
  return buf.subarray(start);
}

/** Compressed size is not known before compressing: tries at most this many cuts. */
const GZIP_FIT_TRIES = 6;

/** The newest bytes of plain, gzipped into at most max bytes; null when nothing fits. */
export function newestGzip(plain: Buffer, max: number, ratio: number): Buffer | null {
  let take = Math.floor((max / Math.max(ratio, 0.01)) * 0.95);
  for (let i = 0; i < GZIP_FIT_TRIES && take > 0; i++) {
    const tail = newestBytes(plain, take);
    if (tail.length === 0) return null;
    const z = zlib.gzipSync(tail);
    if (z.length <= max) return z;
    take = Math.floor(take * (max / z.length) * 0.9);
  }
  return null;
}

/** Less room than this left: a file that does not fit is skipped, not cut to a line or two. */
const MIN_CUT = 512;

/** What is left of --max-size for the log directory's files, handed out newest file first. */
export class Budget {
  used = 0;
  constructor(readonly limit: number) {}

  get left(): number {
    return Math.max(0, this.limit - this.used);
  }

  /**
   * The item as it fits: whole, cut to its newest bytes (truncated), or null when nothing of it
   * fits. plain: a gzip item's decompressed bytes, if known.
   */
  fit(data: Buffer, gzip: boolean, plain?: Buffer): { data: Buffer; truncated: boolean } | null {
    const left = this.left;
    let out: Buffer | null = data;
    if (data.length > left) {
      if (left < MIN_CUT) return null;
      if (gzip) {
        const p = plain ?? gunzipAll(data).plain;
        out = newestGzip(p, left, data.length / Math.max(p.length, 1));
      } else {
        out = newestBytes(data, left);
        if (out.length === 0) out = null;
      }
    }
    if (out === null) return null;
    this.used += out.length;
    return { data: out, truncated: out !== data };
  }
}
