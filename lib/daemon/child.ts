// How `memlogd -daemonize` hands its options to the background child: JSON in one environment
// variable, already validated by the parent, so the child skips flag parsing. Kept apart from the
// daemon code so the command can check it before loading anything else.

import type { ServeOptions } from './serve.js';

/**
 * Node's flags for the background memlogd (-daemonize's supervisor and serving process; a
 * supervisor's restarts and a graceful restart's successor keep their parent's). A young
 * generation of at most 1 MiB: V8 grows it up to 16 MiB after a burst of allocation (a burst
 * of hand-offs) and keeps it, so 10,000 idle sources cost ~1.3-2 KB each with the default and
 * ~0.6-1.0 KB with this (bench/idle-rss.ts, 5,000 -> 15,000 sources). Ingest does not notice:
 * memlogd allocates almost nothing per line (0.240 against 0.245 CPU-s per million lines from
 * one pipe, 0.385 against 0.390 from ten, peak RSS equal; 5 alternated runs each).
 */
export const BACKGROUND_NODE_ARGS = ['--max-semi-space-size=1'];

/**
 * This process's node flags, for a process that replaces it (a restart after a crash, a
 * graceful restart's successor); a debugger's port would be taken, so --inspect is left out.
 */
export function inheritedNodeArgs(): string[] {
  return process.execArgv.filter((a) => !a.startsWith('--inspect'));
}

/** Environment variable carrying the child's options (JSON). */
export const CHILD_ENV = 'MEMLOGD_DAEMON_CHILD';

/** Environment variable telling a graceful restart's successor its hand-over channel fd (restart.ts). */
export const TAKEOVER_ENV = 'MEMLOGD_TAKEOVER';

/** This process's hand-over channel fd if it is a graceful restart's successor (removed from the environment), else null. */
export function takeTakeoverFd(): number | null {
  const text = process.env[TAKEOVER_ENV];
  if (!text) return null;
  delete process.env[TAKEOVER_ENV];
  return Number(text);
}

/** This process's options if it is the background child of -daemonize (removed from the environment), else null. */
export function takeChildOptions(): ServeOptions | null {
  const text = process.env[CHILD_ENV];
  if (!text) return null;
  delete process.env[CHILD_ENV];
  return JSON.parse(text) as ServeOptions;
}
