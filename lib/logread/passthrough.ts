// logread --json's fast path: memlogd's v2 NDJSON is already the output, so logread moves the
// bytes from the socket to its output a chunk at a time without parsing a line. Only the records
// around the entries are looked at: the start record (the first line), the end or error record.
// An entry line starts with `{"seq"`, a record with `{"type":"`; gaps are printed like entries.
// (Used when nothing needs every record: no colors, --cursor-file, --retry or --stats.)

import type { Writable } from 'node:stream';
import { connectQuery } from '../client/query.js';
import { ERR, MemlogdError, type ErrorCode } from '../protocol/errors.js';
import { encodeRequest, parseRecord, type QueryRequest } from '../protocol/v2.js';
import { Output } from './output.js';

const NL = 0x0a;
const TYPE_KEY = Buffer.from('{"type":"');
const GAP_RECORD = Buffer.from('{"type":"gap"');

const BRACE = 0x7b;

function startsWith(buf: Buffer, i: number, end: number, p: Buffer): boolean {
  return end - i >= p.length && buf.compare(p, 0, p.length, i, i + p.length) === 0;
}

/** buf[i, end) is a record other than a gap (gaps are printed with the entries). */
function isRecordLine(buf: Buffer, i: number, end: number): boolean {
  return startsWith(buf, i, end, TYPE_KEY) && !startsWith(buf, i, end, GAP_RECORD);
}

/** How a pass-through session ended. */
export type PassEnd = 'end' | 'closed' | 'stopped' | 'unanswered' | 'timeout';

export interface PassOptions {
  socket: string;
  request: QueryRequest;
  /** No start record within this long: 'timeout' (a v1-only memlogd never answers). */
  handshakeMs: number;
  signal?: AbortSignal;
}

/** Runs one session; resolves with how it ended, throws a coded error for an error record. */
export async function passThrough(o: PassOptions, out: Writable): Promise<PassEnd> {
  const sock = await connectQuery(o.socket, encodeRequest(o.request));
  const output = new Output(out);
  let started = false;
  let ended = false;
  let failure: Error | null = null;
  let stopped = false;
  /** An unfinished line that may be a record, kept until it is complete. */
  let carry: Buffer | null = null;
  let atLineStart = true;
  let paused = false;

  const stop = () => {
    stopped = true;
    sock.destroy();
  };
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    sock.destroy();
  }, o.handshakeMs);
  o.signal?.addEventListener('abort', stop, { once: true });
  void output.whenClosed().then(stop);

  const record = (line: Buffer): void => {
    try {
      const r = parseRecord(line.toString('utf8'));
      if (r.type === 'start') {
        started = true;
        clearTimeout(timer);
      } else if (r.type === 'end') ended = true;
      else if (r.type === 'error') {
        ended = true;
        // the server's code (ERR_BAD_REQUEST, ERR_ACCESS_DENIED...) is the error's code
        failure = new MemlogdError((r.code || ERR.PROTOCOL) as ErrorCode, `memlogd refused the request: ${r.message}`);
      } else if (!started) throw new MemlogdError(ERR.PROTOCOL, `memlogd answered without a start record: ${line.toString('utf8', 0, 80)}`);
    } catch (err) {
      failure ??= err as Error;
      ended = true;
    }
    if (ended) sock.destroy();
  };

  const emit = (buf: Buffer, from: number, to: number) => {
    if (to <= from || ended) return;
    if (!output.write(buf.subarray(from, to)) && !paused) {
      paused = true;
      sock.pause();
      void output.drained().then(() => {
        paused = false;
        sock.resume();
      });
    }
  };

  /** Prints buf from pos on, looking only at the lines that are (or may be) records. */
  const scan = (buf: Buffer, pos: number, lineStart: boolean): void => {
    let printFrom = pos;
    while (pos < buf.length && !ended) {
      const nl = buf.indexOf(NL, pos);
      if (lineStart && buf[pos] !== BRACE) {
        failure = new MemlogdError(ERR.PROTOCOL, `malformed record from memlogd: ${buf.toString('utf8', pos, Math.min(nl < 0 ? buf.length : nl, pos + 80))}`);
        ended = true;
        sock.destroy();
        break;
      }
      // only the first line, and lines that are (or, unfinished, may be) records, are looked at
      if (!started || (lineStart && buf[pos] === BRACE && (nl < 0 || isRecordLine(buf, pos, nl)))) {
        emit(buf, printFrom, pos);
        if (nl < 0) {
          carry = Buffer.from(buf.subarray(pos)); // complete it before deciding
          printFrom = buf.length;
          break;
        }
        record(buf.subarray(pos, nl));
        printFrom = nl + 1;
      }
      if (nl < 0) {
        lineStart = false;
        break;
      }
      pos = nl + 1;
      lineStart = true;
    }
    emit(buf, printFrom, buf.length);
    atLineStart = carry !== null || lineStart;
  };

  sock.on('data', (chunk: Buffer) => {
    let pos = 0;
    if (carry) {
      // Only the carried line is completed and joined: concatenating the carry with every chunk
      // copied everything logread printed once more (a fifth of its CPU time).
      const nl = chunk.indexOf(NL);
      const head = Buffer.concat([carry, nl < 0 ? chunk : chunk.subarray(0, nl + 1)]);
      carry = null;
      scan(head, 0, true);
      if (nl < 0) return;
      pos = nl + 1;
    }
    if (!ended) scan(chunk, pos, atLineStart);
  });
  sock.once('end', () => sock.destroy()); // the server closed: that is the end of the answer
  const closed = new Promise<void>((resolve) => {
    sock.once('close', () => resolve());
    sock.on('error', () => {});
  });
  try {
    await closed;
    await output.idle();
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', stop);
    sock.destroy();
    output.detach();
  }
  if (failure) throw failure;
  if (!started) return stopped ? 'stopped' : timedOut ? 'timeout' : 'unanswered';
  if (ended) return 'end';
  return stopped || output.closed ? 'stopped' : 'closed';
}
