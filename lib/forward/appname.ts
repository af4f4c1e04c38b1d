// A memlogd source name as a syslog APP-NAME (RFC 5424) or TAG (RFC 3164). memlogd accepts any
// name up to 512 bytes; APP-NAME is 1-48 printable US-ASCII characters (RFC 5424 section 6.2.5,
// PRINTUSASCII = %d33-126) and a TAG at most 32 (RFC 3164 section 4.1.3). The mapping is
// deterministic and one-to-one up to a hash for long names, like logwrite's file names:
// - printable ASCII is kept, except `%`, `/` and a leading `.` (servers put APP-NAME into file
//   paths: no name may climb out of a directory or hide in it, and syslog-ng drops a message whose
//   file path contains `/..`), and what a format cannot carry in the field;
// - every other character is written as `%XX` per UTF-8 byte (`café` -> `caf%C3%A9`);
// - the empty name is `-` (NILVALUE: no application), and the name `-` itself is `%2D`;
// - a mapped name longer than the field is cut (never inside an escape) and ends with `%~` and 10
//   hex digits of the SHA-256 of the source name. `%~` never comes out of escaping.
// Pure.

import { createHash } from 'node:crypto';

/** RFC 5424 section 6.2.5. */
export const APP_NAME_MAX = 48;
/** RFC 3164 section 4.1.3. */
export const TAG_MAX = 32;
const HASH_HEX = 10;

/** Characters a field cannot carry as is, besides those outside %d33-126 and `%`. */
export type Unsafe = string;

function escapeChar(ch: string): string {
  let out = '';
  for (const b of Buffer.from(ch, 'utf8')) out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  return out;
}

/** source as a field of at most max printable ASCII characters (see the module comment). */
export function mapName(source: string, max: number, unsafe: Unsafe = ''): string {
  if (source === '') return '-';
  if (source === '-') return '%2D';
  let out = '';
  for (const ch of source) {
    const c = ch.codePointAt(0)!;
    out += c >= 33 && c <= 126 && ch !== '%' && ch !== '/' && !(ch === '.' && out === '') && !unsafe.includes(ch) ? ch : escapeChar(ch);
  }
  if (out.length <= max) return out;
  const keep = max - 2 - HASH_HEX;
  let cut = keep;
  // never inside an escape: a `%` in the last two kept characters starts one
  const pct = out.lastIndexOf('%', keep - 1);
  if (pct >= 0 && pct > keep - 3) cut = pct;
  return `${out.slice(0, cut)}%~${createHash('sha256').update(source, 'utf8').digest('hex').slice(0, HASH_HEX)}`;
}

/** A bounded memo of the mapping (a few thousand sources at most in practice). */
export class NameMap {
  private readonly memo = new Map<string, string>();
  constructor(private readonly max: number, private readonly unsafe: Unsafe = '') {}
  get(source: string): string {
    let v = this.memo.get(source);
    if (v === undefined) {
      if (this.memo.size >= 10_000) this.memo.clear();
      v = mapName(source, this.max, this.unsafe);
      this.memo.set(source, v);
    }
    return v;
  }
}

/** A HOSTNAME field (RFC 5424 section 6.2.4: 1-255 printable ASCII): anything else becomes `_`; empty is `-`. */
export function hostnameField(name: string): string {
  const h = name.replace(/[^!-~]/g, '_').slice(0, 255);
  return h === '' ? '-' : h;
}
