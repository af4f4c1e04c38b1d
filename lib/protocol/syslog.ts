// Syslog messages as local programs send them to /dev/log, parsed (pure): RFC 5424
// (`<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`) and RFC 3164 / syslog(3) (`<PRI>` then
// optionally `Mmm dd hh:mm:ss `, a hostname only from remote senders, then `ident[pid]: msg`).
// Whatever does not parse is kept as it came: a message is never dropped for its shape.

export interface SyslogMessage {
  /** Facility * 8 + severity; null when the message had no valid PRI. */
  pri: number | null;
  /** The program (APP-NAME, or the 3164 tag without its [pid]); null when there is none. */
  ident: string | null;
  /** The pid the message claims (information only: the kernel's credentials are what count). */
  claimedPid: string | null;
  /** RFC 5424's MSGID and structured data as they came (`-` when none). */
  msgId: string | null;
  structured: string | null;
  /** The text: byte offsets into the datagram (it may hold any bytes). */
  start: number;
  end: number;
  format: '5424' | '3164' | 'raw';
}

const MONTHS = new Set(['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']);

/** `<N>` at buf[i] with N 0-191 (RFC 5424 section 6.2.1: 1-3 digits): [pri, length] or null. */
export function parsePri(buf: Uint8Array, i: number, end: number): [number, number] | null {
  if (i >= end || buf[i] !== 0x3c) return null;
  let n = 0;
  let k = i + 1;
  for (; k < end && k < i + 5 && buf[k] >= 0x30 && buf[k] <= 0x39; k++) n = n * 10 + (buf[k] - 0x30);
  const digits = k - i - 1;
  if (digits < 1 || digits > 3 || k >= end || buf[k] !== 0x3e || n > 191 || (digits > 1 && buf[i + 1] === 0x30)) return null;
  return [n, k + 1 - i];
}

/** The next space-separated field of buf from i (end: the byte after it). */
function field(buf: Uint8Array, i: number, end: number): [string, number] | null {
  if (i >= end) return null;
  let k = i;
  while (k < end && buf[k] !== 0x20) k++;
  if (k === i) return null;
  return [Buffer.from(buf.subarray(i, k)).toString('utf8'), k];
}

/**
 * The end of a 5424 message's structured data at i: `-` or `[...]...`. Values are quoted and
 * should escape `]`, `"` and `\\`; a sender that forgets to escape `]` inside quotes is read as meant.
 */
function structuredEnd(buf: Uint8Array, i: number, end: number): number {
  if (buf[i] === 0x2d) return i + 1;
  let k = i;
  while (k < end && buf[k] === 0x5b) {
    k++;
    let quoted = false;
    for (; k < end && (quoted || buf[k] !== 0x5d); k++) {
      if (buf[k] === 0x5c) k++;
      else if (buf[k] === 0x22) quoted = !quoted;
    }
    if (k >= end) return -1;
    k++;
  }
  return k > i ? k : -1;
}

/** Where a tag (or a hostname) starting at i ends: the first byte that cannot be in one, or 48 on. */
function tagEnd(buf: Uint8Array, i: number, end: number): number {
  let k = i;
  while (k < end && k - i < 48 && buf[k] > 0x20 && buf[k] < 0x7f && buf[k] !== 0x3a && buf[k] !== 0x5b) k++;
  return k;
}

/** Parses one datagram (trailing newlines and NULs, which some senders add, ignored). */
export function parseSyslog(buf: Uint8Array, start = 0, end = buf.length): SyslogMessage {
  while (end > start && (buf[end - 1] === 0x0a || buf[end - 1] === 0x00)) end--;
  const raw: SyslogMessage = { pri: null, ident: null, claimedPid: null, msgId: null, structured: null, start, end, format: 'raw' };
  const p = parsePri(buf, start, end);
  if (!p) return raw;
  const pri = p[0];
  let i = start + p[1];
  // RFC 5424: VERSION "1" and a space
  if (buf[i] === 0x31 && buf[i + 1] === 0x20) {
    const f = [] as string[];
    let k = i + 2;
    for (let n = 0; n < 5; n++) {
      const x = field(buf, k, end);
      if (!x) break;
      f.push(x[0]);
      k = x[1] + 1;
    }
    if (f.length === 5) {
      const sdEnd = structuredEnd(buf, k, end);
      if (sdEnd >= 0) {
        let m = sdEnd;
        if (buf[m] === 0x20) m++;
        // a UTF-8 BOM before the text says "this is UTF-8" (RFC 5424 6.4): not part of it
        if (buf[m] === 0xef && buf[m + 1] === 0xbb && buf[m + 2] === 0xbf) m += 3;
        return {
          pri, ident: f[2] === '-' ? null : f[2], claimedPid: f[3] === '-' ? null : f[3], msgId: f[4],
          structured: Buffer.from(buf.subarray(k, sdEnd)).toString('utf8'), start: Math.min(m, end), end, format: '5424',
        };
      }
    }
  }
  // RFC 3164: an optional timestamp `Mmm dd hh:mm:ss `, then perhaps a hostname (logger
  // --rfc3164 sends one; syslog(3) does not): a word followed by one that is a tag
  if (end - i >= 16 && MONTHS.has(Buffer.from(buf.subarray(i, i + 3)).toString('latin1')) && buf[i + 3] === 0x20 && buf[i + 6] === 0x20 &&
    buf[i + 9] === 0x3a && buf[i + 12] === 0x3a && buf[i + 15] === 0x20) {
    i += 16;
    const h = tagEnd(buf, i, end);
    if (h > i && buf[h] === 0x20) {
      const t = tagEnd(buf, h + 1, end);
      if (t > h + 1 && t < end && (buf[t] === 0x3a || buf[t] === 0x5b)) i = h + 1;
    }
  }
  // the tag: up to 48 printable characters, then `[pid]` and/or `:` (RFC 3164 4.1.3; syslog(3))
  let k = tagEnd(buf, i, end);
  if (k > i && k < end && (buf[k] === 0x3a || buf[k] === 0x5b)) {
    const ident = Buffer.from(buf.subarray(i, k)).toString('latin1');
    let claimedPid: string | null = null;
    if (buf[k] === 0x5b) {
      const close = buf.indexOf(0x5d, k);
      if (close < 0 || close >= end) return { ...raw, pri, start: i, format: '3164' };
      claimedPid = Buffer.from(buf.subarray(k + 1, close)).toString('latin1');
      k = close + 1;
    }
    if (buf[k] === 0x3a) k++;
    if (buf[k] === 0x20) k++;
    return { pri, ident, claimedPid, msgId: null, structured: null, start: k, end, format: '3164' };
  }
  return { ...raw, pri, start: i, format: '3164' };
}

/**
 * A program name as the tail of a source name: printable ASCII without spaces or `/`, at most 48
 * characters (RFC 5424's APP-NAME limit); anything else becomes `_`.
 */
export function identName(ident: string): string {
  let out = '';
  for (const ch of ident.slice(0, 48)) out += /^[!-~]$/.test(ch) && ch !== '/' ? ch : '_';
  return out || '_';
}
