// One /dev/kmsg record, parsed (Documentation/ABI/testing/dev-kmsg): a header
// `prio,seq,ts_usec,flags[,more...];`, the message, then dictionary lines that start with a space
// (` SUBSYSTEM=acpi`). The kernel escapes every byte below 0x20, from 0x7f up, and the backslash
// as `\xNN`; we decode the bytes >= 0x80, so UTF-8 text reads as text, and keep control bytes,
// DEL and the backslash escaped, so one record stays one line, safe on a terminal, and
// unambiguous (a literal `\x41` in a message is `\x5cx41`). Pure.

export interface KmsgRecord {
  /** Syslog priority: facility * 8 + level (the kernel's own messages have facility 0). */
  prio: number;
  level: number;
  facility: number;
  /** The kernel's sequence number (-1 when the header has none). */
  seq: number;
  /** Microseconds since boot on the kernel's clock (-1 when the header has none). */
  tsUsec: number;
  /** `-` a record, `c` the start of a continued line, `+` a continuation (old kernels). */
  flag: string;
  /** The message, decoded as described above. */
  text: string;
  /** Dictionary entries (`KEY=value`), decoded the same way. */
  dict: string[];
}

const BACKSLASH = 0x5c;

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Length of the valid UTF-8 sequence at b[i] (2-4), or 0 when it is not one. */
function utf8Len(b: Uint8Array, i: number, end: number): number {
  const c = b[i];
  const cont = (j: number, lo = 0x80, hi = 0xbf) => j < end && b[j] >= lo && b[j] <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(i + 1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) return cont(i + 1, c === 0xe0 ? 0xa0 : 0x80, c === 0xed ? 0x9f : 0xbf) && cont(i + 2) ? 3 : 0;
  if (c >= 0xf0 && c <= 0xf4) return cont(i + 1, c === 0xf0 ? 0x90 : 0x80, c === 0xf4 ? 0x8f : 0xbf) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  return 0;
}

const hex2 = (v: number) => '\\x' + v.toString(16).padStart(2, '0');

/**
 * Decodes the kernel's escaping of buf[start, end): `\xNN` of a byte >= 0x80 becomes that byte
 * (where the bytes form valid UTF-8; invalid ones stay `\xNN`), every other escape stays as it
 * is, and raw bytes are taken as they come (the kernel never sends a raw byte >= 0x80; an
 * invalid one from a recorded file is escaped).
 */
export function decodeEscapes(buf: Uint8Array, start: number, end: number): string {
  // Pass 1: bytes with the >= 0x80 escapes undone; `mark` remembers which bytes were escapes.
  const bytes = new Uint8Array(end - start);
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c === BACKSLASH && i + 3 < end && buf[i + 1] === 0x78) {
      const h = hexVal(buf[i + 2]);
      const l = hexVal(buf[i + 3]);
      if (h >= 0 && l >= 0 && h >= 8) {
        bytes[n++] = h * 16 + l;
        i += 3;
        continue;
      }
    }
    bytes[n++] = c;
  }
  // Pass 2: text, with any byte >= 0x80 that is not part of valid UTF-8 written as \xNN.
  let out = '';
  let run = 0;
  for (let i = 0; i < n;) {
    const c = bytes[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    const len = utf8Len(bytes, i, n);
    if (len > 0) {
      i += len;
      continue;
    }
    out += Buffer.from(bytes.subarray(run, i)).toString('utf8') + hex2(c);
    i++;
    run = i;
  }
  return out + Buffer.from(bytes.subarray(run, n)).toString('utf8');
}

function int(s: string | undefined): number {
  return s !== undefined && /^\d+$/.test(s) ? Number(s) : -1;
}

/**
 * Parses one record as read(2) returns it from /dev/kmsg (or as `cat /dev/kmsg` prints it:
 * header line, then dictionary lines). Missing header fields become -1 (prio: 6, info); extra
 * ones are ignored. A record without a `;` is taken as a message of its own.
 */
export function parseRecord(buf: Uint8Array, start = 0, end = buf.length): KmsgRecord {
  if (end > start && buf[end - 1] === 0x0a) end--;
  let nl = buf.indexOf(0x0a, start);
  if (nl < 0 || nl > end) nl = end;
  const semi = buf.indexOf(0x3b, start);
  let fields: string[] = [];
  let textStart = start;
  if (semi >= 0 && semi < nl) {
    fields = Buffer.from(buf.subarray(start, semi)).toString('latin1').split(',');
    textStart = semi + 1;
  }
  const prioField = int(fields[0]);
  const prio = prioField >= 0 ? prioField : 6;
  const dict: string[] = [];
  for (let p = nl; p < end;) {
    let q = buf.indexOf(0x0a, p + 1);
    if (q < 0 || q > end) q = end;
    // a dictionary line is ` KEY=value` after the newline at p
    const from = buf[p + 1] === 0x20 ? p + 2 : p + 1;
    if (q > from) dict.push(decodeEscapes(buf, from, q));
    p = q;
  }
  return {
    prio, level: prio & 7, facility: prio >> 3, seq: int(fields[1]), tsUsec: int(fields[2]), flag: fields[3] ?? '-',
    text: decodeEscapes(buf, textStart, nl), dict,
  };
}

/**
 * Splits what `cat /dev/kmsg` printed (a recording) into records: a record starts at a line that
 * does not begin with a space; the lines that do are its dictionary.
 */
export function splitRecords(text: Uint8Array): Array<[start: number, end: number]> {
  const out: Array<[number, number]> = [];
  let start = -1;
  for (let p = 0; p < text.length;) {
    let q = text.indexOf(0x0a, p);
    if (q < 0) q = text.length;
    if (text[p] !== 0x20 || start < 0) {
      if (start >= 0) out.push([start, p]);
      start = p;
    }
    p = q + 1;
  }
  if (start >= 0 && start < text.length) out.push([start, text.length]);
  return out.filter(([s, e]) => e > s && !(e - s === 1 && text[s] === 0x0a));
}
