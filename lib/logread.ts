// logread: dump or follow memlogd's store to a stream in the reference text format.

import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { connectQuery, readEntries } from './client.js';
import { formatText, MODE_DUMP, MODE_DUMP_FOLLOW, MODE_FOLLOW } from './protocol.js';

export interface LogreadOptions {
  socket: string;
  /** -f: new entries only */
  follow?: boolean;
  /** -F: everything held, then new entries */
  dumpFollow?: boolean;
}

/** Runs until the daemon closes the connection (dump) or forever (follow), or out closes. */
export async function logread(opts: LogreadOptions, out: Writable): Promise<void> {
  const mode = opts.dumpFollow ? MODE_DUMP_FOLLOW : opts.follow ? MODE_FOLLOW : MODE_DUMP;
  const sock = await connectQuery(opts.socket, mode);
  // A reader that went away (`logread | head -1`) is a normal end, not an error.
  const outClosed = new Promise<void>((resolve) => {
    out.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') process.stderr.write(`logread: output: ${err.message}\n`);
      sock.destroy();
      resolve();
    });
  });
  let paused = false;
  const reading = readEntries(sock, (e) => {
    if (!out.write(formatText(e) + '\n') && !paused) {
      paused = true;
      sock.pause();
      once(out, 'drain').then(() => {
        paused = false;
        sock.resume();
      }, () => {});
    }
  });
  await Promise.race([reading, outClosed]);
}
