// What `memlogd` does once its flags are parsed: serve in the foreground, or bind both sockets
// and serve them from a background child (-daemonize). Daemon code is loaded only by the branch
// that runs, so `memlogd -daemonize` returns without ever loading the store.

import type { DaemonOptions } from './daemon.js';
import type { ServeOptions } from './serve.js';

export interface MemlogdCommandOptions extends Partial<DaemonOptions> {
  socketLog: string;
  socketQuery: string;
  daemonize?: boolean;
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
  const { script: _script, ...serveOpts } = opts;
  await serveChild(serveOpts);
}

/** The daemon in this process (the foreground command, or the -daemonize child with its options). */
export async function serveChild(o: ServeOptions): Promise<void> {
  const { serve } = await import('./serve.js');
  await serve(o);
}

/** A graceful restart's successor: takes over from its predecessor on channel fd. */
export async function serveTakeover(fd: number): Promise<void> {
  const { serveTakeover: take } = await import('./serve.js');
  await take(fd);
}
