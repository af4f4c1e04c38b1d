// logread's text lines from v1 entries, byte for byte what formatText(parseEntry(line)) gives,
// without decoding a string when it can: a v1 entry line holds no backslash unless one of its
// strings needed escaping, and without escapes every `"` in it is structural, so the time, source
// and message are byte ranges to copy. A line with a backslash (escapes, invalid UTF-8 as
// \ufffd, `<` as \u003c) goes through JSON.parse. Pure: this is most of logread's time.

import { formatText, parseEntry } from '../protocol/v1.js';

const NL = 0x0a;
const QUOTE = 0x22;
const SEMI = 0x3b;
const BACKSLASH = 0x5c;
const P_TIME = Buffer.from('{"time":"');
const P_SOURCE = Buffer.from('","source":"');
const P_MSG = Buffer.from('","msg":"');

/** The bytes of p at buf[i] (a loop: shorter than a native call for these few bytes). */
function at(buf: Buffer, i: number, p: Buffer): boolean {
  for (let k = 0; k < p.length; k++) if (buf[i + k] !== p[k]) return false;
  return true;
}

/**
 * Turns a stream of v1 NDJSON chunks into text chunks (the last line may wait for the next chunk).
 * The text of a line is never longer than the line (28 bytes of keys go; escapes only shrink)
 * unless its source has many `;` (each becomes `\;`), so lines are rewritten in place, front to
 * back, into the chunk they arrived in: no copy of the chunk, no allocation per line.
 */
export class V1TextFormatter {
  private carry: Buffer | null = null;
  /** Lines converted the fast way and the slow way (for tests and tuning). */
  fast = 0;
  slow = 0;

  /**
   * The text of every complete line in chunk (and before it), given to print in one or two
   * pieces. chunk is reused for the output.
   */
  push(chunk: Buffer, print: (text: Buffer) => void): void {
    if (!this.carry) return print(this.lines(chunk));
    // the line carried over is completed on its own, and the rest of the chunk printed after it:
    // neither is copied to join them
    const nl = chunk.indexOf(NL);
    if (nl < 0) {
      this.carry = Buffer.concat([this.carry, chunk]);
      return;
    }
    const head = Buffer.concat([this.carry, chunk.subarray(0, nl + 1)]);
    this.carry = null;
    print(this.lines(head));
    print(this.lines(chunk.subarray(nl + 1)));
  }

  private lines(buf: Buffer): Buffer {
    let o = 0;
    let pos = 0;
    let nextBs = buf.indexOf(BACKSLASH);
    let spill: Buffer[] | null = null;
    for (;;) {
      const nl = buf.indexOf(NL, pos);
      if (nl < 0) break;
      if (nextBs >= 0 && nextBs < pos) nextBs = buf.indexOf(BACKSLASH, pos);
      const r = nextBs >= 0 && nextBs < nl ? -1 : this.line(buf, pos, nl, o);
      if (r >= 0) o = r;
      else {
        // the slow path, or a line whose text would not fit in place: what is done so far
        // goes out as it is, and this line's text after it
        const text = this.slowText(buf, pos, nl);
        if (o + text.length <= nl + 1) o += text.copy(buf, o);
        else {
          (spill ??= []).push(Buffer.from(buf.subarray(0, o)), text);
          o = 0;
        }
      }
      pos = nl + 1;
    }
    if (pos < buf.length) this.carry = Buffer.from(buf.subarray(pos));
    if (!spill) return buf.subarray(0, o);
    spill.push(buf.subarray(0, o));
    return Buffer.concat(spill);
  }

  /** The end of the stream: a last line without newline is still a line. */
  end(print: (text: Buffer) => void): void {
    if (!this.carry) return;
    const c = this.carry;
    this.carry = null;
    this.push(Buffer.concat([c, Buffer.from('\n')]), print);
  }

  /**
   * A line without backslash, written at o (o <= s): its three parts moved down. Returns the new
   * end, or -1 when the line is not of the usual shape or its text would not fit in place.
   */
  private line(buf: Buffer, s: number, e: number, o: number): number {
    if (buf[e - 1] !== 0x7d || buf[e - 2] !== QUOTE || !at(buf, s, P_TIME)) return -1;
    const t0 = s + P_TIME.length;
    const t1 = buf.indexOf(QUOTE, t0);
    if (t1 < 0 || t1 >= e || !at(buf, t1, P_SOURCE)) return -1;
    const s0 = t1 + P_SOURCE.length;
    const s1 = buf.indexOf(QUOTE, s0);
    if (s1 < 0 || s1 >= e || !at(buf, s1, P_MSG)) return -1;
    const m0 = s1 + P_MSG.length;
    const m1 = e - 2;
    if (m1 < m0 || buf.indexOf(QUOTE, m0) !== m1) return -1;
    let semis = 0;
    for (let i = s0; i < s1; i++) if (buf[i] === SEMI) semis++; // a short name: no native call for it
    // in place: every part moves down (or stays), so nothing is overwritten before it is moved
    if (semis > P_TIME.length + P_SOURCE.length + P_MSG.length - 3 - 1) return -1;
    buf.copyWithin(o, t0, t1);
    o += t1 - t0;
    buf[o++] = SEMI;
    if (semis === 0) {
      buf.copyWithin(o, s0, s1);
      o += s1 - s0;
    } else {
      const src = Buffer.from(buf.subarray(s0, s1)); // a rare name: copied out, then written with `\;`
      for (const c of src) {
        if (c === SEMI) buf[o++] = BACKSLASH;
        buf[o++] = c;
      }
    }
    buf[o++] = SEMI;
    buf.copyWithin(o, m0, m1);
    o += m1 - m0;
    buf[o++] = NL;
    this.fast++;
    return o;
  }

  private slowText(buf: Buffer, s: number, e: number): Buffer {
    this.slow++;
    return Buffer.from(formatText(parseEntry(buf.toString('utf8', s, e))) + '\n', 'utf8');
  }
}
