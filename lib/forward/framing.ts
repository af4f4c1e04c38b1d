// How messages are delimited on a stream. Pure.
//
// TCP and TLS: octet counting, `MSG-LEN SP SYSLOG-MSG` (RFC 6587 section 3.4.1; RFC 5425 section
// 4.3 makes it the only framing over TLS). A message may then contain any byte, and no receiver
// mistakes part of one for the start of the next.
//
// RELP (librelp's protocol, https://www.rsyslog.com/doc/relp.html): every frame is
// `TXNR SP COMMAND SP DATALEN [SP DATA] LF`; TXNR counts 1..999999999 and wraps to 1, DATALEN is
// the byte length of DATA (0: no SP and no DATA), COMMAND is 1-32 letters. The server answers
// every command with `TXNR rsp DATALEN SP <code> [SP text][LF data]`, and may announce the end
// of the session with the unsolicited `0 serverclose 0`.

/** One octet-counted message: `MSG-LEN SP SYSLOG-MSG`; bytes is the message's UTF-8 length. */
export function octetFrame(text: string, bytes: number): string {
  return `${bytes} ${text}`;
}

/** Frames queued for one write, and the byte offsets of a connection they are written to. */
export class FrameBatch {
  private frames: string[] = [];
  /** Bytes queued (UTF-8). */
  bytes = 0;
  /** Bytes taken for writing so far. */
  written = 0;

  /** The connection's offset after the last frame queued. */
  get offset(): number {
    return this.written + this.bytes;
  }

  /** Queues a frame: frame ends with a message of text.length UTF-16 units and textBytes bytes. */
  push(frame: string, text: string, textBytes: number): void {
    this.frames.push(frame);
    this.bytes += frame.length - text.length + textBytes;
  }

  /** Everything queued as one string (encoded once by the socket), or null; the batch is empty after. */
  take(): string | null {
    if (this.frames.length === 0) return null;
    const s = this.frames.join('');
    this.frames = [];
    this.written += this.bytes;
    this.bytes = 0;
    return s;
  }
}

/** Largest RELP transaction number; the one after it is 1. */
export const RELP_MAX_TXNR = 999_999_999;

export function nextTxnr(txnr: number): number {
  return txnr >= RELP_MAX_TXNR ? 1 : txnr + 1;
}

/** A `syslog` command carrying one message; bytes is the message's UTF-8 length. */
export function relpSyslogFrame(txnr: number, text: string, bytes: number): string {
  return `${txnr} syslog ${bytes} ${text}\n`;
}

/** A whole RELP frame (for the control commands: open, close). */
export function relpFrame(txnr: number, command: string, data = ''): Buffer {
  const n = Buffer.byteLength(data);
  return Buffer.from(n > 0 ? `${txnr} ${command} ${n} ${data}\n` : `${txnr} ${command} 0\n`, 'utf8');
}

export interface RelpFrame {
  txnr: number;
  command: string;
  data: Buffer;
}

/** Does a response's data start with `200` (OK)? Checked on the bytes: every acknowledgement goes through here. */
export function relpOk(data: Buffer): boolean {
  return data.length >= 3 && data[0] === 0x32 && data[1] === 0x30 && data[2] === 0x30 && (data.length === 3 || data[3] === 0x20 || data[3] === 0x0a);
}

/** A response's code (200 OK, 500 error) and text; code 0 when the data is empty (librelp's answer to `close`). */
export function relpResponse(data: Buffer): { code: number; text: string } {
  const s = data.toString('utf8');
  const m = /^(\d{3})(?: ([^\n]*))?/.exec(s);
  return m ? { code: Number(m[1]), text: s.slice(4) } : { code: 0, text: s };
}

/** The longest header we accept: 9 digits, 32 letters, 9 digits and three separators. */
const MAX_HEADER = 9 + 1 + 32 + 1 + 9 + 1;
const HEADER = /^(\d{1,9}) ([A-Za-z]{1,32}) (\d{1,9})([ \n])/;
/** What the beginning of a header that has not arrived whole looks like. */
const PARTIAL = /^\d{0,9}(?: [A-Za-z]{0,32}(?: \d{0,9})?)?$/;

/** Splits what a RELP peer sends into frames; throws on anything that is not RELP. */
export class RelpParser {
  private buf: Buffer = Buffer.alloc(0);

  /** @param maxData the largest DATA accepted (a server's answers are small). */
  constructor(private readonly maxData = 128 * 1024) {}

  push(chunk: Buffer): RelpFrame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const frames: RelpFrame[] = [];
    let o = 0;
    for (;;) {
      const head = this.buf.toString('latin1', o, Math.min(this.buf.length, o + MAX_HEADER));
      const m = HEADER.exec(head);
      if (!m) {
        if (!PARTIAL.test(head)) throw new Error(`not a RELP frame: ${JSON.stringify(head.slice(0, 40))}`);
        break; // the header is not complete yet
      }
      const len = Number(m[3]);
      if (len > this.maxData) throw new Error(`RELP frame of ${len} bytes is larger than ${this.maxData}`);
      if ((len === 0) !== (m[4] === '\n')) throw new Error(`malformed RELP frame header: ${JSON.stringify(m[0])}`);
      const start = o + m[0].length;
      const end = len === 0 ? start : start + len + 1;
      if (this.buf.length < end) break;
      if (len > 0 && this.buf[end - 1] !== 0x0a) throw new Error('RELP frame without its LF trailer');
      frames.push({ txnr: Number(m[1]), command: m[2], data: this.buf.subarray(start, start + len) });
      o = end;
    }
    this.buf = o >= this.buf.length ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(o));
    return frames;
  }
}
