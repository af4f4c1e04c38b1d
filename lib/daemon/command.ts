// What `memlogd` does once its flags are parsed: serve in the foreground, or bind both sockets
// and serve them from a background child (-daemonize). Daemon code is loaded only by the branch
// that runs, so `memlogd -daemonize` returns without ever loading the store.

import type { DaemonOptions } from './daemon.js';
import type { ServeOptions } from './serve.js';

export interface MemlogdCommandOptions extends Partial<DaemonOptions> {
  socketLog: string;
  socketQuery: string;
  daemonize?: boolean;
  supervise?: boolean;
  outageMs?: number;
  /** The entry script, run again as the background child of -daemonize. */
  script: string;
}

/** Runs memlogd until SIGTERM/SIGINT (foreground), or until the background child serves (-daemonize). */
export async function memlogd(o: MemlogdCommandOptions): Promise<void> {
  const { daemonize: background, ...opts } = o;
  if (background) {
    const { daemonize } = await import('./daemonize.js');
    await daemonize(opts);
    return;
  }
  // in the foreground memlogd serves itself: supervision is -daemonize's
  const { script: _script, supervise: _supervise, outageMs: _outage, ...serveOpts } = opts;
  await serveChild(serveOpts);
}

/** The daemon in this process (the foreground command, or the -daemonize child with its options). */
export async function serveChild(o: ServeOptions): Promise<void> {
  if (o.supervise) {
    const { Supervisor } = await import('./supervisor.js');
    const { supervise: _s, ...rest } = o;
    await new Supervisor({ ...rest, fdLog: o.fdLog!, fdQuery: o.fdQuery!, script: process.argv[1], psArgs: process.argv.slice(2) }).run();
    return;
  }
  const { serve } = await import('./serve.js');
  await serve(o);
}

/** A graceful restart's successor: takes over from its predecessor on channel fd. */
export async function serveTakeover(fd: number): Promise<void> {
  const { serveTakeover: take } = await import('./serve.js');
  await take(fd);
}
