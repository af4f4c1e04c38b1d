// logread: dump or follow memlogd's store.
//
// Without a v2-only option it speaks protocol v1 (one mode byte), so it works against the
// reference Go memlogd and prints exactly what the reference logread prints. Any v2 option
// (filters, --tail, --json, --stats, cursors, --retry) makes it send a v2 JSON request and read
// v2 records (session.ts; docs/protocol.md).

import type { Writable } from 'node:stream';
import { connectQuery, readEntries } from '../client/query.js';
import { MODE_DUMP, MODE_DUMP_FOLLOW, MODE_FOLLOW } from '../protocol/constants.js';
import { formatEntry } from './format.js';
import { Output } from './output.js';
import { needsV2, useColor, type LogreadOptions } from './request.js';
import { V2Logread } from './session.js';

export type { LogreadOptions } from './request.js';

/**
 * Prints memlogd's entries to out. Resolves at the end of a dump, when out's reader goes away,
 * when opts.signal aborts, or (following) when memlogd closes the connection. Throws a coded
 * error: ERR_USAGE (bad option value), ERR_MEMLOGD_CONNECT (memlogd not there, without
 * --retry), anything else (memlogd refused the request, protocol error, connection lost).
 */
export async function logread(opts: LogreadOptions, out: Writable): Promise<void> {
  if (needsV2(opts)) return new V2Logread(opts, out).run();
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
