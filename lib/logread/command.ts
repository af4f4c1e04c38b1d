// logread: dump or follow memlogd's store.
//
// With only the reference's flags (-socket, -f, -F) it speaks protocol v1 (one mode byte), so it
// works against LinuxKit's memlogd too, and prints exactly what the reference logread prints;
// the text is made from the entries' bytes without decoding them (v1-text.ts). Any v2 option
// (filters, --tail, --json, --stats, cursors, --retry) makes it a v2 client (session.ts;
// docs/protocol.md); --json alone passes memlogd's NDJSON through untouched (passthrough.ts).

import type { Writable } from 'node:stream';
import { connectQuery, readLines } from '../client/query.js';
import type net from 'node:net';
import { MODE_DUMP, MODE_DUMP_FOLLOW, MODE_FOLLOW } from '../protocol/constants.js';
import { ERR, MemlogdError } from '../protocol/errors.js';
import { parseEntry } from '../protocol/v1.js';
import { formatEntry } from './format.js';
import { Output } from './output.js';
import { passThrough } from './passthrough.js';
import { buildRequest, needsV2, useColor, V2_START_TIMEOUT_MS, type LogreadOptions } from './request.js';
import { V1TextFormatter } from './v1-text.js';
import { V2Logread } from './session.js';

export type { LogreadOptions } from './request.js';

/**
 * Prints memlogd's entries to out. Resolves at the end of a dump, when out's reader goes away,
 * when opts.signal aborts, or (following) when memlogd closes the connection. Throws a coded
 * error: ERR_USAGE (bad option value), ERR_MEMLOGD_CONNECT (memlogd not there, without
 * --retry), anything else (memlogd refused the request, protocol error, connection lost).
 */
export async function logread(opts: LogreadOptions, out: Writable): Promise<void> {
  const color = useColor(opts.color, out);
  if (!needsV2(opts)) return logreadV1(opts, out, color);
  if (!opts.json || color || opts.cursorFile !== undefined || opts.retry || opts.stats) return new V2Logread(opts, out).run();
  const request = buildRequest(opts, (opts.now ?? Date.now)());
  const end = await passThrough({ socket: opts.socket, request, handshakeMs: V2_START_TIMEOUT_MS, signal: opts.signal }, out);
  if (end === 'timeout') {
    throw new MemlogdError(ERR.PROTOCOL, `memlogd did not answer the v2 request within ${V2_START_TIMEOUT_MS / 1000}s ` +
      '(a memlogd that only speaks protocol v1 needs logread without v2 options)');
  }
  if (end === 'unanswered') throw new MemlogdError(ERR.CLOSED, 'memlogd closed the connection without answering the v2 request');
  if (end === 'closed') {
    throw new MemlogdError(ERR.CLOSED, request.mode === 'dump' ? 'memlogd closed the connection before the end of the dump' : 'memlogd closed the connection');
  }
}

function aborted(signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return new Promise(() => {});
  if (signal.aborted) return Promise.resolve();
  return new Promise((r) => signal.addEventListener('abort', () => r(), { once: true }));
}

/** Protocol v1: one mode byte, the reference text lines, printed a chunk at a time. */
async function logreadV1(opts: LogreadOptions, out: Writable, color: boolean): Promise<void> {
  const mode = opts.dumpFollow ? MODE_DUMP_FOLLOW : opts.follow ? MODE_FOLLOW : MODE_DUMP;
  const sock = await connectQuery(opts.socket, mode);
  const o = new Output(out);
  const stop = () => sock.destroy();
  opts.signal?.addEventListener('abort', stop, { once: true });
  let paused = false;
  const print = (text: string | Buffer) => {
    if (text.length > 0 && !o.write(text) && !paused) {
      paused = true;
      sock.pause();
      o.drained().then(() => {
        paused = false;
        sock.resume();
      });
    }
  };
  try {
    const reading = color
      ? readLines(sock, (lines) => print(lines.map((line) => formatEntry(parseEntry(line), true) + '\n').join('')))
      : readChunks(sock, new V1TextFormatter(), print);
    // A reader that went away (`logread | head -1`) is a normal end, not an error.
    await Promise.race([reading, o.whenClosed().then(stop), aborted(opts.signal).then(stop)]);
    await o.idle();
  } finally {
    opts.signal?.removeEventListener('abort', stop);
    sock.destroy();
    o.detach();
  }
}

/** Feeds every chunk through the formatter to print; resolves when the server closes the connection. */
function readChunks(sock: net.Socket, f: V1TextFormatter, print: (b: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let failed = false;
    const guard = (fn: () => void) => {
      if (failed) return;
      try {
        fn();
      } catch (err) {
        failed = true;
        sock.destroy();
        reject(err);
      }
    };
    sock.on('data', (chunk: Buffer) => guard(() => f.push(chunk, print)));
    sock.once('end', () => guard(() => {
      f.end(print);
      sock.destroy();
    }));
    sock.once('close', () => {
      if (!failed) resolve();
    });
    sock.once('error', (err) => {
      failed = true;
      reject(err);
    });
  });
}
