// logread: dump or follow memlogd's store.
//
// Without a v2-only option it speaks protocol v1 (one mode byte), so it works against the
// reference Go memlogd and prints exactly what the reference logread prints. Any v2 option
// (filters, --tail, --json, --stats, cursors, --retry) makes it send a v2 JSON request and read
// v2 records: entries with seq, gap / start / end / error / stats records (docs/protocol.md).

import type net from 'node:net';
import type { Writable } from 'node:stream';
import { connectQuery, ERR_CONNECT, readEntries, readLines, requestLine } from './client.js';
import { formatEntry, formatGap, formatStats } from './logread-format.js';
import {
  formatCursor, MODE_DUMP, MODE_DUMP_FOLLOW, MODE_FOLLOW, parseCursor, parseRecord, type QueryRequest, type V2Record,
} from './protocol.js';
import { CursorFile } from './cursor-file.js';
import { retryDelay, sleep } from './backoff.js';
import { buildRequest, needsV2, useColor, type LogreadOptions } from './logread-request.js';

export * from './logread-request.js';
export * from './cursor-file.js';

/** Without --retry, how long a v2 request may go unanswered (a v1-only memlogd never answers it). */
const START_TIMEOUT_MS = 15_000;

// ---------------------------------------------------------------------------------------------
// output

const guarded = new WeakSet<Writable>();

/**
 * The output stream as logread uses it: a write whose callback reports that the bytes were
 * taken (the cursor follows what was printed, not what was received), backpressure, and the
 * reader going away (EPIPE) as a quiet end.
 */
class Output {
  closed = false;
  private pending = 0;
  private idleWaiters: Array<() => void> = [];
  private closeWaiters: Array<() => void> = [];
  private afterPending: Array<() => void> = [];

  constructor(readonly out: Writable) {
    out.on('error', this.onError);
    out.once('close', this.onClose);
  }

  private onError = (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') process.stderr.write(`logread: output: ${err.message}\n`);
    this.onClose();
  };

  private onClose = () => {
    if (this.closed) return;
    this.closed = true;
    this.settle();
    for (const w of this.closeWaiters.splice(0)) w();
  };

  detach(): void {
    this.out.off('error', this.onError);
    this.out.off('close', this.onClose);
    // a late EPIPE must not become an uncaught exception (one listener per stream, however often
    // logread() runs on it)
    if (!guarded.has(this.out)) {
      guarded.add(this.out);
      this.out.on('error', () => {});
    }
  }

  /** Resolves when the reader goes away. */
  whenClosed(): Promise<void> {
    return this.closed ? Promise.resolve() : new Promise((r) => this.closeWaiters.push(r));
  }

  /** Writes text; done() runs once the stream took it (not if it failed). False: wait for drain. */
  write(text: string, done?: () => void): boolean {
    if (this.closed) return true;
    this.pending++;
    return this.out.write(text, (err) => {
      this.pending--;
      if (!err && done) done();
      if (this.pending === 0) this.settle();
    });
  }

  /** Runs fn after every write issued so far was taken (now, if none is pending). */
  afterWrites(fn: () => void): void {
    if (this.pending === 0 || this.closed) fn();
    else this.afterPending.push(fn);
  }

  private settle(): void {
    for (const f of this.afterPending.splice(0)) f();
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Resolves when every write has been taken (or the stream is gone). */
  idle(): Promise<void> {
    return this.pending === 0 || this.closed ? Promise.resolve() : new Promise((r) => this.idleWaiters.push(r));
  }

  drained(): Promise<void> {
    if (this.closed || !this.out.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.out.off('drain', done);
        this.out.off('close', done);
        resolve();
      };
      this.out.on('drain', done);
      this.out.on('close', done);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// logread

/**
 * Prints memlogd's entries to out. Resolves at the end of a dump, when out's reader goes away,
 * when opts.signal aborts, or (following) when memlogd closes the connection. Throws a coded
 * error: ERR_USAGE (bad option value), ERR_MEMLOGD_CONNECT (memlogd not there, without
 * --retry), anything else (memlogd refused the request, protocol error, connection lost).
 */
export async function logread(opts: LogreadOptions, out: Writable): Promise<void> {
  if (needsV2(opts)) return logreadV2(opts, out);
  return logreadV1(opts, out);
}

function aborted(signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return new Promise(() => {});
  if (signal.aborted) return Promise.resolve();
  return new Promise((r) => signal.addEventListener('abort', () => r(), { once: true }));
}

/** Protocol v1: one mode byte, reference text lines. */
async function logreadV1(opts: LogreadOptions, out: Writable): Promise<void> {
  const mode = opts.dumpFollow ? MODE_DUMP_FOLLOW : opts.follow ? MODE_FOLLOW : MODE_DUMP;
  const color = useColor(opts.color, out);
  const sock = await connectQuery(opts.socket, mode);
  const o = new Output(out);
  const stop = () => sock.destroy();
  opts.signal?.addEventListener('abort', stop, { once: true });
  let paused = false;
  try {
    const reading = readEntries(sock, (e) => {
      if (!o.write(formatEntry(e, color) + '\n') && !paused) {
        paused = true;
        sock.pause();
        o.drained().then(() => {
          paused = false;
          sock.resume();
        });
      }
    });
    // A reader that went away (`logread | head -1`) is a normal end, not an error.
    await Promise.race([reading, o.whenClosed().then(stop), aborted(opts.signal).then(stop)]);
    await o.idle();
  } finally {
    opts.signal?.removeEventListener('abort', stop);
    sock.destroy();
    o.detach();
  }
}

/** Where the reader is: the last entry (or gap end) it received, as a cursor. */
export interface Position {
  instance: string;
  seq: number;
}


function codedError(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

/** How one connection ended. */
type SessionEnd = 'end' | 'dropped' | 'stopped';

/** The request after a reconnect: everything after the last entry received (no tail any more). */
export function resumeRequest(first: QueryRequest, received: Position | null): QueryRequest {
  if (received === null || first.mode === 'stats') return first;
  const { tail: _tail, ...rest } = first;
  return { ...rest, after: formatCursor(received.instance, received.seq) };
}

/** Protocol v2: a JSON request, v2 records; cursors, retry, cursor file. */
async function logreadV2(opts: LogreadOptions, out: Writable): Promise<void> {
  const now = opts.now ?? Date.now;
  const notice = opts.notice ?? ((m: string) => process.stderr.write(`logread: ${m}\n`));
  const color = useColor(opts.color, out);
  // Every flag value is checked before anything is read or connected.
  const first = buildRequest(opts, now());
  const cursorFile = opts.cursorFile !== undefined ? new CursorFile(opts.cursorFile, opts.cursorWriteInterval) : undefined;
  const saved = cursorFile?.read();
  // A cursor file that holds a cursor wins over --after (that is where the last run stopped).
  let request = saved !== undefined ? { ...first, after: saved } : first;
  const start = request.after;
  if (cursorFile && start !== undefined) cursorFile.update(start);

  const o = new Output(out);
  /** The last entry (or the end of a gap) received: where a reconnect resumes. */
  let received: Position | null = start !== undefined ? parseCursor(start) : null;
  let sock: net.Socket | null = null;
  let stopped = false;
  const stop = () => {
    stopped = true;
    sock?.destroy();
  };
  opts.signal?.addEventListener('abort', stop, { once: true });
  if (opts.signal?.aborted) stopped = true;
  void o.whenClosed().then(stop);

  let attempt = 0;
  let outage = false;

  /** One connection: print what comes back until the server closes it or logread stops. */
  const session = async (s: net.Socket, req: QueryRequest): Promise<{ end: SessionEnd; sawStart: boolean }> => {
    let ended = false;
    let sawStart = false;
    let instance: string | null = null;
    let failure: Error | null = null;
    let paused = false;
    const startTimer = setTimeout(() => {
      failure = codedError('ERR_MEMLOGD_PROTOCOL', `memlogd did not answer the v2 request within ${START_TIMEOUT_MS / 1000}s ` +
        '(a memlogd that only speaks protocol v1 needs logread without v2 options)');
      s.destroy();
    }, opts.retry ? 2 ** 31 - 1 : START_TIMEOUT_MS);
    startTimer.unref();
    const reading = readLines(s, (lines) => {
      let text = '';
      let moved = false;
      try {
        for (const line of lines) {
          if (!line || ended) continue;
          const r = parseRecord(line) as V2Record;
          switch (r.type) {
            case undefined: // an entry
              text += opts.json ? line + '\n' : formatEntry(r, color) + '\n';
              if (instance !== null) {
                received = { instance, seq: r.seq };
                moved = true;
              }
              break;
            case 'start':
              sawStart = true;
              clearTimeout(startTimer);
              instance = r.instance;
              attempt = 0;
              if (outage) {
                notice('connected to memlogd again');
                outage = false;
              }
              // -f without a cursor starts at the newest entry: a reconnect must resume there
              if (received === null && req.mode === 'follow' && !req.tail && r.next > 0) {
                received = { instance, seq: r.next - 1 };
                moved = true;
              }
              break;
            case 'gap':
              text += opts.json ? line + '\n' : formatGap(r, color, now()) + '\n';
              // the gap's entries are accounted for: a resume must not report them again
              if (instance !== null && r.count > 0) {
                const seq = received?.instance === instance ? Math.max(received.seq, r.to) : r.to;
                received = { instance, seq };
                moved = true;
              }
              break;
            case 'end':
              ended = true;
              break;
            case 'stats':
              text += opts.json ? line + '\n' : formatStats(r) + '\n';
              ended = true;
              break;
            case 'error':
              ended = true;
              failure = codedError(typeof r.code === 'string' && r.code ? r.code : 'ERR_MEMLOGD_PROTOCOL',
                `memlogd refused the request: ${r.message}`);
              break;
            default:
              break; // a record type from a newer memlogd: nothing to print
          }
        }
      } catch (err) {
        failure = err as Error;
      }
      const c = moved && received ? formatCursor(received.instance, received.seq) : undefined;
      if (text) {
        const ok = o.write(text, c !== undefined ? () => cursorFile?.update(c) : undefined);
        if (!ok && !paused) {
          paused = true;
          s.pause();
          void o.drained().then(() => {
            paused = false;
            s.resume();
          });
        }
      } else if (c !== undefined) {
        o.afterWrites(() => cursorFile?.update(c));
      }
      if (failure) throw failure;
    }, true);
    try {
      await reading;
    } catch {
      // failure (a refusal, a malformed record) is thrown below; a socket error is a dropped connection
    } finally {
      clearTimeout(startTimer);
      s.destroy();
    }
    if (failure) throw failure;
    if (ended) return { end: 'end', sawStart };
    return { end: stopped ? 'stopped' : 'dropped', sawStart };
  };

  let failed = false;
  try {
    while (!stopped) {
      try {
        sock = await connectQuery(opts.socket, requestLine(request));
      } catch (err) {
        if (!opts.retry || (err as { code?: string }).code !== ERR_CONNECT) throw err;
        if (!outage) notice(`${(err as Error).message}; retrying`);
        outage = true;
        await sleep(retryDelay(attempt++, opts.retryMinDelay, opts.retryMaxDelay), opts.signal);
        continue;
      }
      if (stopped) break;
      const { end, sawStart } = await session(sock, request);
      sock = null;
      if (end !== 'dropped') break;
      if (!opts.retry) {
        throw codedError('ERR_MEMLOGD_CLOSED', !sawStart
          ? 'memlogd closed the connection without answering the v2 request'
          : request.mode === 'dump' ? 'memlogd closed the connection before the end of the dump' : 'memlogd closed the connection');
      }
      if (!outage) notice('lost the connection to memlogd; reconnecting');
      outage = true;
      await sleep(retryDelay(attempt++, opts.retryMinDelay, opts.retryMaxDelay), opts.signal);
      request = resumeRequest(first, received);
    }
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', stop);
    sock?.destroy();
    // the cursor follows what was printed: let the output take what it was given, then save
    await o.idle();
    cursorFile?.flush();
    o.detach();
    if (cursorFile?.error && !failed) {
      // eslint-disable-next-line no-unsafe-finally
      throw codedError('ERR_CURSOR_FILE', `cannot write cursor file ${cursorFile.file}: ${cursorFile.error.message}`);
    }
  }
}
