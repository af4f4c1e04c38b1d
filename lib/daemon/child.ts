// How `memlogd -daemonize` hands its options to the background child: JSON in one environment
// variable, already validated by the parent, so the child skips flag parsing. Kept apart from the
// daemon code so the command can check it before loading anything else.

import type { ServeOptions } from './serve.js';

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
