// logread over protocol v2: a JSON request, v2 records printed as text or NDJSON; the position
// (the last entry or gap received) kept as a cursor, for --retry reconnects and --cursor-file.

import type net from 'node:net';
import type { Writable } from 'node:stream';
import { retryDelay, sleep } from '../client/backoff.js';
import { connectQuery, readLines } from '../client/query.js';
import { formatCursor, parseCursor, type Cursor } from '../protocol/cursor.js';
import { ERR, MemlogdError, hasCode, type ErrorCode } from '../protocol/errors.js';
import { encodeRequest, parseRecord, type QueryRequest, type V2Record } from '../protocol/v2.js';
import { CursorFile } from './cursor-file.js';
import { formatEntry, formatGap, formatStats } from './format.js';
import { Output } from './output.js';
import { buildRequest, useColor, V2_START_TIMEOUT_MS as START_TIMEOUT_MS, type LogreadOptions } from './request.js';


/** Where the reader is: the last entry (or gap end) it received, as a cursor. */
export type Position = Cursor;

/** How one connection ended. */
type SessionEnd = 'end' | 'dropped' | 'stopped';

/** The request after a reconnect: everything after the last entry received (no tail any more). */
export function resumeRequest(first: QueryRequest, received: Position | null): QueryRequest {
  if (received === null || first.mode === 'stats') return first;
  const { tail: _tail, ...rest } = first;
  return { ...rest, after: formatCursor(received.instance, received.seq) };
}

/** What one connection has seen so far. */
interface Connection {
  sock: net.Socket;
  req: QueryRequest;
  /** An end, stats or error record arrived: the answer is complete. */
  ended: boolean;
  sawStart: boolean;
  instance: string | null;
  failure: Error | null;
  paused: boolean;
  startTimer: NodeJS.Timeout;
}

export class V2Logread {
  private readonly now: () => number;
  private readonly notice: (m: string) => void;
  private readonly color: boolean;
  private readonly cursorFile: CursorFile | undefined;
  private readonly o: Output;
  /** The last entry (or the end of a gap) received: where a reconnect resumes. */
  private received: Position | null = null;
  private sock: net.Socket | null = null;
  private stopped = false;
  private attempt = 0;
  /** memlogd was unreachable or the connection dropped, and that was said. */
  private outage = false;

  constructor(private readonly opts: LogreadOptions, out: Writable) {
    this.now = opts.now ?? Date.now;
    this.notice = opts.notice ?? ((m: string) => process.stderr.write(`logread: ${m}\n`));
    this.color = useColor(opts.color, out);
    this.cursorFile = opts.cursorFile !== undefined ? new CursorFile(opts.cursorFile, opts.cursorWriteInterval) : undefined;
    this.o = new Output(out);
  }

  private stop = () => {
    this.stopped = true;
    this.sock?.destroy();
  };

  /** Runs until the answer ends, the output goes away or the signal aborts; throws a coded error. */
  async run(): Promise<void> {
    const { opts } = this;
    // Every flag value is checked before anything is read or connected.
    const first = buildRequest(opts, this.now());
    const saved = this.cursorFile?.read();
    // A cursor file that holds a cursor wins over --after (that is where the last run stopped).
    let request = saved !== undefined ? { ...first, after: saved } : first;
    const start = request.after;
    if (this.cursorFile && start !== undefined) this.cursorFile.update(start);
    this.received = start !== undefined ? parseCursor(start) : null;
    opts.signal?.addEventListener('abort', this.stop, { once: true });
    if (opts.signal?.aborted) this.stopped = true;
    void this.o.whenClosed().then(this.stop);

    let failed = false;
    try {
      while (!this.stopped) {
        try {
          this.sock = await connectQuery(opts.socket, encodeRequest(request));
        } catch (err) {
          if (!opts.retry || !hasCode(err, ERR.CONNECT)) throw err;
          await this.waitOut(`${(err as Error).message}; retrying`);
          continue;
        }
        if (this.stopped) break;
        const { end, sawStart } = await this.session(this.sock, request);
        this.sock = null;
        if (end !== 'dropped') break;
        if (!opts.retry) {
          throw new MemlogdError(ERR.CLOSED, !sawStart
            ? 'memlogd closed the connection without answering the v2 request'
            : request.mode === 'dump' ? 'memlogd closed the connection before the end of the dump' : 'memlogd closed the connection');
        }
        await this.waitOut('lost the connection to memlogd; reconnecting');
        request = resumeRequest(first, this.received);
      }
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      await this.finish(failed);
    }
  }

  /** Says the outage once, then waits the next backoff delay. */
  private async waitOut(message: string): Promise<void> {
    if (!this.outage) this.notice(message);
    this.outage = true;
    await sleep(retryDelay(this.attempt++, this.opts.retryMinDelay, this.opts.retryMaxDelay), this.opts.signal);
  }

  private async finish(failed: boolean): Promise<void> {
    this.opts.signal?.removeEventListener('abort', this.stop);
    this.sock?.destroy();
    // the cursor follows what was printed: let the output take what it was given, then save
    await this.o.idle();
    this.cursorFile?.flush();
    this.o.detach();
    if (this.cursorFile?.error && !failed) {
      throw new MemlogdError(ERR.CURSOR_FILE, `cannot write cursor file ${this.cursorFile.file}: ${this.cursorFile.error.message}`);
    }
  }

  /** One connection: print what comes back until the server closes it or logread stops. */
  private async session(sock: net.Socket, req: QueryRequest): Promise<{ end: SessionEnd; sawStart: boolean }> {
    const c: Connection = {
      sock, req, ended: false, sawStart: false, instance: null, failure: null, paused: false,
      startTimer: setTimeout(() => {
        c.failure = new MemlogdError(ERR.PROTOCOL, `memlogd did not answer the v2 request within ${START_TIMEOUT_MS / 1000}s ` +
          '(a memlogd that only speaks protocol v1 needs logread without v2 options)');
        sock.destroy();
      }, this.opts.retry ? 2 ** 31 - 1 : START_TIMEOUT_MS),
    };
    c.startTimer.unref();
    try {
      await readLines(sock, (lines) => this.onLines(c, lines), true);
    } catch {
      // a failure (a refusal, a malformed record) is thrown below; a socket error is a dropped connection
    } finally {
      clearTimeout(c.startTimer);
      sock.destroy();
    }
    if (c.failure) throw c.failure;
    if (c.ended) return { end: 'end', sawStart: c.sawStart };
    return { end: this.stopped ? 'stopped' : 'dropped', sawStart: c.sawStart };
  }

  /** A chunk of records: printed as one write, the cursor saved once the output took it. */
  private onLines(c: Connection, lines: string[]): void {
    let text = '';
    let moved = false;
    try {
      for (const line of lines) {
        if (!line || c.ended) continue;
        const r = parseRecord(line);
        const printed = this.record(c, r, line);
        if (printed.text) text += printed.text;
        if (printed.moved) moved = true;
      }
    } catch (err) {
      c.failure = err as Error;
    }
    const cursor = moved && this.received ? formatCursor(this.received.instance, this.received.seq) : undefined;
    const cf = this.cursorFile;
    if (text) {
      const ok = this.o.write(text, cursor !== undefined ? () => cf?.update(cursor) : undefined);
      if (!ok && !c.paused) {
        c.paused = true;
        c.sock.pause();
        void this.o.drained().then(() => {
          c.paused = false;
          c.sock.resume();
        });
      }
    } else if (cursor !== undefined) {
      this.o.afterWrites(() => cf?.update(cursor));
    }
    if (c.failure) throw c.failure;
  }

  /** One record: what to print, and whether the position moved. */
  private record(c: Connection, r: V2Record, line: string): { text?: string; moved?: boolean } {
    const { json } = this.opts;
    switch (r.type) {
      case undefined: // an entry
        if (c.instance !== null) this.received = { instance: c.instance, seq: r.seq };
        return { text: json ? line + '\n' : formatEntry(r, this.color) + '\n', moved: c.instance !== null };
      case 'start':
        c.sawStart = true;
        clearTimeout(c.startTimer);
        c.instance = r.instance;
        this.attempt = 0;
        if (this.outage) {
          this.notice('connected to memlogd again');
          this.outage = false;
        }
        // -f without a cursor starts at the newest entry: a reconnect must resume there
        if (this.received === null && c.req.mode === 'follow' && !c.req.tail && r.next > 0) {
          this.received = { instance: c.instance, seq: r.next - 1 };
          return { moved: true };
        }
        return {};
      case 'gap': {
        const text = json ? line + '\n' : formatGap(r, this.color, this.now()) + '\n';
        // the gap's entries are accounted for: a resume must not report them again
        if (c.instance === null || r.count <= 0) return { text };
        const seq = this.received?.instance === c.instance ? Math.max(this.received.seq, r.to) : r.to;
        this.received = { instance: c.instance, seq };
        return { text, moved: true };
      }
      case 'end':
        c.ended = true;
        return {};
      case 'stats':
        c.ended = true;
        return { text: json ? line + '\n' : formatStats(r) + '\n' };
      case 'error':
        c.ended = true;
        // the server's code (ERR_BAD_REQUEST, ERR_ACCESS_DENIED...) is the error's code
        c.failure = new MemlogdError((typeof r.code === 'string' && r.code ? r.code : ERR.PROTOCOL) as ErrorCode,
          `memlogd refused the request: ${r.message}`);
        return {};
      default:
        return {}; // a record type from a newer memlogd: nothing to print
    }
  }
}
