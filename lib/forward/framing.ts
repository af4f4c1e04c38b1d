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

/** The `MSG-LEN SP` prefix of one octet-counted message. */
export function octetPrefix(msgBytes: number): Buffer {
  return Buffer.from(`${msgBytes} `, 'latin1');
}

/** Largest RELP transaction number; the one after it is 1. */
export const RELP_MAX_TXNR = 999_999_999;

export function nextTxnr(txnr: number): number {
  return txnr >= RELP_MAX_TXNR ? 1 : txnr + 1;
}

/** The header of a RELP frame, up to and including the SP before DATA (or the LF when there is none). */
export function relpHeader(txnr: number, command: string, dataBytes: number): Buffer {
  return Buffer.from(dataBytes > 0 ? `${txnr} ${command} ${dataBytes} ` : `${txnr} ${command} 0\n`, 'latin1');
}

export const LF = Buffer.from('\n');

/** A whole RELP frame (header, data, trailer) as one buffer (for small control frames). */
export function relpFrame(txnr: number, command: string, data = ''): Buffer {
  const d = Buffer.from(data, 'utf8');
  return d.length ? Buffer.concat([relpHeader(txnr, command, d.length), d, LF]) : relpHeader(txnr, command, 0);
}

export interface RelpFrame {
  txnr: number;
  command: string;
  data: Buffer;
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
