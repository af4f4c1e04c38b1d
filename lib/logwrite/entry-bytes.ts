// The common v2 entry, found in its bytes: a whole line (not a piece) whose strings needed no
// escaping, exactly in the shape memlogd writes (V2Encoder). logwrite writes those straight from
// the bytes it received, without making a string; anything else goes through decodeRecord. Pure.

const QUOTE = 0x22;
const P_SEQ = Buffer.from('{"seq":');
const P_TIME = Buffer.from(',"time":"');
const P_SOURCE = Buffer.from('","source":"');
const P_STDOUT = Buffer.from('","stream":"stdout"');
const P_STDERR = Buffer.from('","stream":"stderr"');
const P_SEVERITY = Buffer.from(',"severity":');
const P_FACILITY = Buffer.from(',"facility":');
const P_MSG = Buffer.from(',"msg":"');

function at(buf: Uint8Array, i: number, p: Uint8Array): boolean {
  for (let k = 0; k < p.length; k++) if (buf[i + k] !== p[k]) return false;
  return true;
}

/** Where the parts of a plain entry line are (byte offsets into the buffer). */
export interface EntryBytes {
  seq: number;
  /** time: [t0, t1) without quotes; source [s0, s1); message [m0, m1). */
  t0: number;
  t1: number;
  s0: number;
  s1: number;
  m0: number;
  m1: number;
  stdout: boolean;
}

/**
 * The parts of buf[s, e) (a line without its newline) when it is a whole entry with no backslash
 * in it; null for anything else (a piece, an escape, a record, another shape). The caller knows
 * whether the line holds a backslash (one search per chunk): hasBackslash.
 */
export function entryBytes(buf: Uint8Array, s: number, e: number, hasBackslash: boolean, out: EntryBytes): boolean {
  if (hasBackslash || e - s < 40 || buf[e - 1] !== 0x7d || buf[e - 2] !== QUOTE || !at(buf, s, P_SEQ)) return false;
  let i = s + P_SEQ.length;
  let seq = 0;
  const d0 = i;
  for (; i < e; i++) {
    const c = buf[i];
    if (c < 48 || c > 57) break;
    seq = seq * 10 + (c - 48);
  }
  if (i === d0 || i - d0 > 16 || !at(buf, i, P_TIME)) return false;
  const t0 = i + P_TIME.length;
  const t1 = buf.indexOf(QUOTE, t0);
  if (t1 < 0 || t1 >= e || !at(buf, t1, P_SOURCE)) return false;
  const s0 = t1 + P_SOURCE.length;
  const s1 = buf.indexOf(QUOTE, s0);
  if (s1 < 0 || s1 >= e) return false;
  let stdout: boolean;
  if (at(buf, s1, P_STDOUT)) stdout = true;
  else if (at(buf, s1, P_STDERR)) stdout = false;
  else return false;
  let k = s1 + P_STDOUT.length;
  // severity (one digit) and facility (one or two), when memlogd sends them
  if (at(buf, k, P_SEVERITY)) {
    k += P_SEVERITY.length + 1;
    if (at(buf, k, P_FACILITY)) {
      k += P_FACILITY.length;
      while (buf[k] >= 48 && buf[k] <= 57) k++;
    }
  }
  if (!at(buf, k, P_MSG)) return false;
  const m0 = k + P_MSG.length;
  const m1 = e - 2;
  // the message ends at the line's `"}`: a quote before it would be another key (a piece's
  // `","partial":true`, or a field this decoder does not know)
  if (m1 < m0 || buf.indexOf(QUOTE, m0) !== m1) return false;
  out.seq = seq;
  out.t0 = t0;
  out.t1 = t1;
  out.s0 = s0;
  out.s1 = s1;
  out.m0 = m0;
  out.m1 = m1;
  out.stdout = stdout;
  return true;
}
