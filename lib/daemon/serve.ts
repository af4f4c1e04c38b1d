// Runs the daemon in this process until SIGTERM/SIGINT: what `memlogd` does in the foreground
// and what the background child of `memlogd -daemonize` does.

import fs from 'node:fs';
import { Daemon, type DaemonOptions } from './daemon.js';

export interface ServeOptions extends Partial<DaemonOptions> {
  /** Write "ready" to this fd once both sockets are served (the -daemonize handshake). */
  readyFd?: number;
}

export async function serve(o: ServeOptions): Promise<void> {
  const d = await Daemon.start(o);
  if (o.readyFd !== undefined) {
    fs.writeSync(o.readyFd, 'ready\n');
    fs.closeSync(o.readyFd);
  } else {
    const where = (fd: number | undefined, path: string | undefined) => (fd !== undefined ? `fd ${fd}` : path);
    process.stderr.write(`memlogd: serving ${where(o.fdLog, d.opts.socketLog)} (logging) and ${where(o.fdQuery, d.opts.socketQuery)} (query)\n`);
  }
  await new Promise<void>((resolve) => {
    const stop = () => void d.close().then(resolve);
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
