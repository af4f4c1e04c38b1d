// Splits a byte stream into log lines, the way the reference does (bufio.Scanner ScanLines:
// split on \n, drop one \r before it, keep empty lines, flush a partial last line at EOF) but
// without its silent cut: a line longer than maxLineLen is delivered as several pieces, every
// piece but the last flagged PARTIAL ("continues in the next piece of this stream").
// Pure module: no I/O. Memory per stream is bounded by 2 * maxLineLen.

/** Flag of a piece that does not end its line: the next piece of the same stream continues it. */
export const PARTIAL = 1;

/** Receives one line or piece: bytes buf[start, end), flags PARTIAL or 0. Must not keep buf. */
export type LineSink = (buf: Buffer, start: number, end: number, flags: number) => void;

/**
 * Receives, once per chunk, the lines that lie wholly inside it: line i is
 * buf[starts[i], ends[i]) with flags[i], in order. Lets the store copy a chunk in one move.
 */
export type BatchSink = (buf: Buffer, starts: Int32Array, ends: Int32Array, flags: Uint8Array, n: number) => void;

/** Lines per batch before it is handed over (a 64 KiB chunk of short lines fits). */
const BATCH_LINES = 4096;
// One set of batch arrays for every framer: a batch is always handed over before push()
// returns, so framers never hold one across calls (per-framer arrays cost 36 KiB per input).
const STARTS = new Int32Array(BATCH_LINES);
const ENDS = new Int32Array(BATCH_LINES);
const FLAGS = new Uint8Array(BATCH_LINES);

/** The carry of every framer that has not needed one yet (an empty Buffer is ~100 bytes each). */
const NO_CARRY = Buffer.alloc(0);

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
  private carry = NO_CARRY;
  private carryLen = 0;
  // Pending batch of lines inside the current chunk (only with a BatchSink), in STARTS/ENDS/FLAGS.
  private batchBuf: Buffer | null = null;
  private n = 0;

  /**
   * Lines go to `sink` (and, batched, to `batchSink`), or to a subclass's deliver() and
   * deliverBatch(): memlogd's inputs are framers themselves, so that an idle source costs no
   * framer object and no closures (lib/daemon/input.ts).
   */
  constructor(private readonly maxLineLen: number, private readonly sink?: LineSink,
    private readonly batchSink?: BatchSink) {
    if (!Number.isInteger(maxLineLen) || maxLineLen < 8) throw new RangeError(`maxLineLen must be an integer >= 8, got ${maxLineLen}`);
  }

  /** Receives one line or piece (see LineSink). */
  protected deliver(buf: Buffer, start: number, end: number, flags: number): void {
    this.sink!(buf, start, end, flags);
  }

  /** Receives the lines wholly inside a chunk (see BatchSink); called only if `batching`. */
  protected deliverBatch(buf: Buffer, starts: Int32Array, ends: Int32Array, flags: Uint8Array, n: number): void {
    this.batchSink!(buf, starts, ends, flags, n);
  }

  /** Whether lines wholly inside a pushed chunk go out in batches. */
  protected get batching(): boolean {
    return this.batchSink !== undefined;
  }

  /** One line or piece, batched when it lies in the chunk being pushed, else delivered at once. */
  private emit(buf: Buffer, start: number, end: number, flags: number): void {
    if (!this.batching || buf === this.carry) {
      this.flush();
      this.deliver(buf, start, end, flags);
      return;
    }
    if (this.n === BATCH_LINES || (this.batchBuf !== null && this.batchBuf !== buf)) this.flush();
    this.batchBuf = buf;
    STARTS[this.n] = start;
    ENDS[this.n] = end;
    FLAGS[this.n] = flags;
    this.n++;
  }

  private flush(): void {
    if (this.n === 0) return;
    const n = this.n;
    this.n = 0;
    const buf = this.batchBuf!;
    this.batchBuf = null;
    this.deliverBatch(buf, STARTS, ENDS, FLAGS, n);
  }

  /** Bytes held back waiting for the end of their line. */
  get pending(): number {
    return this.carryLen;
  }

  /** A copy of the unfinished line held back (a graceful restart hands it to the successor). */
  carryBytes(): Buffer {
    return Buffer.from(this.carry.subarray(0, this.carryLen));
  }

  /** Continues an unfinished line another framer held (at most 2 * maxLineLen bytes). */
  restoreCarry(bytes: Buffer): void {
    this.ensureCarry(bytes.length, 0);
    bytes.copy(this.carry, 0, 0, Math.min(bytes.length, this.carry.length));
    this.carryLen = Math.min(bytes.length, this.carry.length);
  }

  push(chunk: Buffer): void {
    let pos = 0;
    const len = chunk.length;
    // Complete (or grow) the line carried over from earlier chunks.
    while (this.carryLen > 0 && pos < len) {
      const nl = chunk.indexOf(NL, pos);
      const take = (nl === -1 ? len : nl) - pos;
      this.ensureCarry(this.carryLen + take, this.carryLen);
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
    this.flush();
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
    this.emit(buf, start, end, 0);
  }

  /** Emits PARTIAL pieces while more than maxLineLen bytes remain; returns where the rest starts. */
  private emitFull(buf: Buffer, start: number, end: number): number {
    while (end - start > this.maxLineLen) {
      const cut = cutPoint(buf, start, this.maxLineLen);
      this.emit(buf, start, cut, PARTIAL);
      start = cut;
    }
    return start;
  }

  /**
   * An unfinished line: emit what cannot wait, keep the rest (at most maxLineLen bytes, plus a
   * trailing \r). A \r at the end may be the first half of a \r\n that the next chunk
   * completes, and then it is not part of the line: pieces are cut as if it were not there, so
   * a line is stored as the same entries however its bytes were chunked (a line of exactly
   * maxLineLen bytes ending in \r\n once became a full piece plus an empty one when the \n
   * came in a later read).
   */
  private keepTail(buf: Buffer, start: number, end: number): void {
    start = this.emitFull(buf, start, buf[end - 1] === CR ? end - 1 : end);
    this.flush(); // the batch may point into buf: deliver it before buf's bytes are reused
    const n = end - start;
    if (buf !== this.carry) this.ensureCarry(n, 0);
    if (buf === this.carry) {
      if (start > 0) this.carry.copyWithin(0, start, end);
    } else {
      buf.copy(this.carry, 0, start, end);
    }
    this.carryLen = n;
  }

  /**
   * Grows the carry to hold `want` bytes (at most 2 * maxLineLen), keeping its first `keep`.
   * It grows on demand because most streams only ever carry a short tail, and a thousand
   * inputs should not each hold 2 KiB they never use.
   */
  private ensureCarry(want: number, keep: number): void {
    const cap = Math.min(want, 2 * this.maxLineLen);
    if (this.carry.length >= cap) return;
    const bigger = Buffer.allocUnsafe(Math.min(2 * this.maxLineLen, Math.max(256, cap * 2)));
    this.carry.copy(bigger, 0, 0, keep);
    this.carry = bigger;
  }
}

/** Splits one message (memlogd's own events) into pieces with the same rules as a stream. */
export function splitMessage(msg: Buffer, maxLineLen: number, sink: LineSink): void {
  const f = new LineFramer(maxLineLen, sink);
  f.push(msg);
  f.end();
}
