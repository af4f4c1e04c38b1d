// logwrite's file names: a source name (any string memlogd accepted, up to 512 bytes) becomes a
// file name that stays inside the log directory, is still readable, and never collides with the
// file of another source. See docs/logwrite.md for the rules.
//
// Pure: no I/O.

import { createHash } from 'node:crypto';

/** What the empty source name is written as (`%e` cannot start an escape: `m` is not hex). */
export const EMPTY_NAME = '%empty';
/** Longest encoded base name (UTF-8 bytes); longer ones are cut and end in `%~<hash>`. */
export const MAX_BASE_BYTES = 200;
/** Where a too long encoded name is cut (leaves room for `%~` and 16 hex digits). */
const CUT_BYTES = MAX_BASE_BYTES - 18;
/** The state file (never a source's file: those end in .log, .log.N or .log.N.gz). */
export const STATE_FILE = 'logwrite.state';

/** Characters written as %XX (their UTF-8 bytes): controls, format characters, separators, / \ %. */
const UNSAFE = /[\p{C}\p{Z}/\\%]/u;

function escapeChar(ch: string): string {
  let out = '';
  for (const b of Buffer.from(ch, 'utf8')) out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  return out;
}

/**
 * The base of every file of `source`: `<base>.log`, `<base>.log.N`, `<base>.log.N.gz`.
 * - bytes that are unsafe or invisible in a file name (`/`, `\`, NUL and every other control
 *   character, Unicode format characters, spaces and other separators, and `%` itself) are
 *   written as `%XX`, one per UTF-8 byte: `a/b` -> `a%2Fb`, `../x` -> `%2E.%2Fx`;
 * - a leading `.` or `-` is escaped too (no hidden files, nothing that looks like an option);
 * - the empty name is `%empty`;
 * - an encoded name over 200 bytes is cut and ends with `%~` and 16 hex digits of the SHA-256
 *   of the source name.
 * `%` is always followed by two upper-case hex digits in an escape, so `%empty` and `%~` never
 * come out of escaping: the mapping is one-to-one (up to the 64-bit hash for very long names).
 */
export function fileBase(source: string): string {
  if (source === '') return EMPTY_NAME;
  let out = '';
  let first = true;
  for (const ch of source) {
    if (UNSAFE.test(ch) || (first && (ch === '.' || ch === '-'))) out += escapeChar(ch);
    else out += ch;
    first = false;
  }
  if (Buffer.byteLength(out) <= MAX_BASE_BYTES) return out;
  // Cut on a character / escape boundary, then make it unique again with a hash of the name.
  let cut = '';
  let bytes = 0;
  for (let i = 0; i < out.length;) {
    let piece: string;
    if (out[i] === '%') piece = out.slice(i, i + 3);
    else {
      const cp = out.codePointAt(i)!;
      piece = String.fromCodePoint(cp);
    }
    const n = Buffer.byteLength(piece);
    if (bytes + n > CUT_BYTES) break;
    cut += piece;
    bytes += n;
    i += piece.length;
  }
  const hash = createHash('sha256').update(source, 'utf8').digest('hex').slice(0, 16);
  return `${cut}%~${hash}`;
}

/** The current file of a base. */
export function currentName(base: string): string {
  return `${base}.log`;
}

/** Rotated file `index` (0 newest) of a base, compressed or not. */
export function rotatedName(base: string, index: number, gz = false): string {
  return `${base}.log.${index}${gz ? '.gz' : ''}`;
}

export interface ParsedName {
  base: string;
  /** -1: the current file; otherwise the rotation index. */
  index: number;
  gz: boolean;
}

const FILE_RE = /^(.+)\.log(?:\.(\d{1,9})(\.gz)?)?$/s;

/** Which base/index a file in the log directory is; null when it is not one of ours. */
export function parseFileName(name: string): ParsedName | null {
  const m = FILE_RE.exec(name);
  if (!m) return null;
  if (m[2] === undefined) return { base: m[1], index: -1, gz: false };
  if (m[2].length > 1 && m[2][0] === '0') return null; // we never write "01"
  return { base: m[1], index: Number(m[2]), gz: m[3] !== undefined };
}

/** Temporary files logwrite may leave behind when killed (removed at start). */
export function isTempName(name: string): boolean {
  return name.endsWith('.gz.tmp') || name === `${STATE_FILE}.tmp`;
}
