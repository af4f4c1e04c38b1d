// Runs the daemon in this process until SIGTERM/SIGINT: what `memlogd` does in the foreground
// and what the background child of `memlogd -daemonize` does. SIGUSR2 hands everything to a
// successor and exits (restart.ts); SIGHUP stays harmless (a closing terminal sends it).

import fs from 'node:fs';
import { Daemon, type DaemonOptions } from './daemon.js';
import { handOver, takeOver } from './restart.js';

export interface ServeOptions extends Partial<DaemonOptions> {
  /** Write "ready" to this fd once both sockets are served (the -daemonize handshake). */
  readyFd?: number;
  /** Be the supervisor (supervisor.ts) of a serving memlogd instead of serving (-daemonize's default). */
  supervise?: boolean;
  /** The supervisor's outage bound (supervisor.ts OUTAGE_MS). */
  outageMs?: number;
  /**
   * The supervisor's channel to a serving memlogd started beside it (-daemonize starts both at
   * once); without it the supervisor starts the first one itself.
   */
  channelFd?: number;
}

export async function serve(o: ServeOptions): Promise<void> {
  const d = await Daemon.start(o);
  d.serving();
  if (o.readyFd !== undefined) {
    fs.writeSync(o.readyFd, 'ready\n');
    fs.closeSync(o.readyFd);
  } else {
    const where = (fd: number | undefined, path: string | undefined) => (fd !== undefined ? `fd ${fd}` : path);
    const syslog = o.fdSyslog !== undefined || o.socketSyslog !== undefined ? `, ${where(o.fdSyslog, o.socketSyslog)} (syslog)` : '';
    process.stderr.write(`memlogd: serving ${where(o.fdLog, d.opts.socketLog)} (logging)${syslog} and ${where(o.fdQuery, d.opts.socketQuery)} (query)\n`);
  }
  await serveUntilStopped(d);
}

/** A successor of a graceful restart: takes over from the predecessor on channel fd, then serves. */
export async function serveTakeover(fd: number): Promise<void> {
  await serveUntilStopped(await takeOver(fd));
}

async function serveUntilStopped(d: Daemon): Promise<void> {
  process.on('SIGHUP', () => {});
  let restarting = false;
  const restart = () => {
    if (restarting) return;
    restarting = true;
    void handOver(d, process.argv[1]).then((done) => {
      if (done) process.exit(0); // the successor serves: leave the socket files to it
      restarting = false;
    });
  };
  process.on('SIGUSR2', restart);
  await new Promise<void>((resolve) => {
    const stop = () => {
      d.stopping(); // on purpose: the supervisor, if any, stops too instead of restarting us
      void d.close().then(resolve);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  process.off('SIGUSR2', restart);
}
