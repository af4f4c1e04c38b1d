// Splits a byte stream into log lines, the way the reference does (bufio.Scanner ScanLines:
// split on \n, drop one \r before it, keep empty lines, flush a partial last line at EOF) but
// without its silent cut: a line longer than maxLineLen is delivered as several pieces, every
// piece but the last flagged PARTIAL ("continues in the next piece of this stream").
// Pure module: no I/O. Memory per stream is bounded by 2 * maxLineLen.

/** Flag of a piece that does not end its line: the next piece of the same stream continues it. */
export const PARTIAL = 1;

/** Receives one line or piece: bytes buf[start, end), flags PARTIAL or 0. Must not keep buf. */
export type LineSink = (buf: Buffer, start: number, end: number, flags: number) => void;

const NL = 0x0a;
const CR = 0x0d;

/**
 * Where to cut a piece that must not exceed `limit` bytes from start: never inside a UTF-8
 * sequence (so every piece decodes on its own) and never right after a \r (it may be the
 * first half of a \r\n). Backs off at most 4 bytes and never returns start.
 */
export function cutPoint(buf: Uint8Array, start: number, limit: number): number {
  let cut = start + limit;
  const floor = Math.max(start + 1, cut - 4);
  // Back off while the byte at cut is a UTF-8 continuation byte (10xxxxxx).
  let c = cut;
  while (c > floor && (buf[c] & 0xc0) === 0x80) c--;
  if ((buf[c] & 0xc0) !== 0x80) cut = c;
  if (cut - 1 > start && buf[cut - 1] === CR) cut--;
  return cut;
}

export class LineFramer {
  private carry: Buffer;
  private carryLen = 0;

  constructor(private readonly maxLineLen: number, private readonly sink: LineSink) {
    if (!Number.isInteger(maxLineLen) || maxLineLen < 8) throw new RangeError(`maxLineLen must be an integer >= 8, got ${maxLineLen}`);
    this.carry = Buffer.allocUnsafe(0);
  }

  /** Bytes held back waiting for the end of their line. */
  get pending(): number {
    return this.carryLen;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    const len = chunk.length;
    // Complete (or grow) the line carried over from earlier chunks.
    while (this.carryLen > 0 && pos < len) {
      const nl = chunk.indexOf(NL, pos);
      const take = (nl === -1 ? len : nl) - pos;
      const n = Math.min(take, this.carry.length - this.carryLen);
      chunk.copy(this.carry, this.carryLen, pos, pos + n);
      this.carryLen += n;
      pos += n;
      if (n === take && nl !== -1) {
        this.line(this.carry, 0, this.carryLen);
        this.carryLen = 0;
        pos = nl + 1;
      } else {
        this.keepTail(this.carry, 0, this.carryLen);
      }
    }
    // Lines wholly inside this chunk go straight to the sink, no copy.
    let nl: number;
    while (pos < len && (nl = chunk.indexOf(NL, pos)) !== -1) {
      this.line(chunk, pos, nl);
      pos = nl + 1;
    }
    if (pos < len) this.keepTail(chunk, pos, len);
  }

  /** End of stream: a last line without a newline is still a line. */
  end(): void {
    if (this.carryLen > 0) {
      const n = this.carryLen;
      this.carryLen = 0;
      this.line(this.carry, 0, n);
    }
  }

  /** A complete line buf[start, end) (without its \n): drop one trailing \r, split if long. */
  private line(buf: Buffer, start: number, end: number): void {
    if (end > start && buf[end - 1] === CR) end--;
    start = this.emitFull(buf, start, end);
    this.sink(buf, start, end, 0);
  }

  /** Emits PARTIAL pieces while more than maxLineLen bytes remain; returns where the rest starts. */
  private emitFull(buf: Buffer, start: number, end: number): number {
    while (end - start > this.maxLineLen) {
      const cut = cutPoint(buf, start, this.maxLineLen);
      this.sink(buf, start, cut, PARTIAL);
      start = cut;
    }
    return start;
  }

  /** An unfinished line: emit what cannot wait, keep the rest (at most maxLineLen bytes). */
  private keepTail(buf: Buffer, start: number, end: number): void {
    start = this.emitFull(buf, start, end);
    const n = end - start;
    if (this.carry.length === 0) this.carry = Buffer.allocUnsafe(2 * this.maxLineLen);
    if (buf === this.carry) {
      if (start > 0) this.carry.copyWithin(0, start, end);
    } else {
      buf.copy(this.carry, 0, start, end);
    }
    this.carryLen = n;
  }
}

/** Splits one message (memlogd's own events) into pieces with the same rules as a stream. */
export function splitMessage(msg: Buffer, maxLineLen: number, sink: LineSink): void {
  const f = new LineFramer(maxLineLen, sink);
  f.push(msg);
  f.end();
}
