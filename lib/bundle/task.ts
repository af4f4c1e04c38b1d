// A task collects one thing (memlogd's dump, a file, a command's output) into one or more items,
// within its own time limit (as every flare provider has its own). What it throws or how long it
// hangs is written into the manifest; it never stops the bundle. Tasks learn that their time is
// up through their signal and then release what they hold (kill the command, close the socket),
// and may hand back what they got so far, which is then marked truncated.

import type { Counts } from './redact.js';
import type { ItemSource } from './manifest.js';

/** An item a task produced, before redaction, the size budget and the checksum. */
export interface Produced {
  /** Path in the archive, below its top directory. */
  path: string;
  source: ItemSource;
  data: Buffer;
  /** data is gzip: masked by decompressing, masking and compressing again. */
  gzip?: boolean;
  /** Already masked (with these counts): not masked again. */
  redacted?: Counts;
  /** Counts against --max-size (the log directory's files). */
  budget?: boolean;
  truncated?: boolean;
  notes?: string[];
  exitCode?: number | null;
  signal?: string | null;
  /** Size of what was read from, when it differs from the item (a file cut to its newest bytes). */
  sourceSize?: number;
  /** Not archived, for this reason (one item of several a task makes has nothing in it). */
  skip?: string;
}

export interface Task {
  /** The item's path, for the manifest when the task yields nothing. */
  path: string;
  /** The other items it makes from the same source (each listed too when it yields nothing). */
  also?: string[];
  source: ItemSource;
  limitMs: number;
  run(signal: AbortSignal): Promise<Produced[]>;
}

/** Thrown by a task whose thing is not there (no such file, command or socket): the item is skipped, not failed. */
export class Skip extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Skip';
  }
}

/** After its time limit, how long a task has to hand back what it got before it is given up. */
const GRACE_MS = 1000;

export interface TaskOutcome {
  produced: Produced[];
  /** Why the task yielded nothing, and whether that is a skip or a failure. */
  error?: { skipped: boolean; reason: string };
  durationMs: number;
  timedOut: boolean;
}

/** Runs a task within limitMs; never throws. `stop` aborts it from outside (the whole run is interrupted). */
export async function runTask(task: Task, limitMs = task.limitMs, stop?: AbortSignal): Promise<TaskOutcome> {
  const t0 = performance.now();
  const ac = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, limitMs);
  const onStop = () => ac.abort();
  stop?.addEventListener('abort', onStop, { once: true });
  type Settled = { ok: Produced[] } | { err: unknown };
  const settled: Promise<Settled> = task.run(ac.signal).then((ok) => ({ ok }), (err: unknown) => ({ err }));
  const aborted = new Promise<null>((resolve) => ac.signal.addEventListener('abort', () => resolve(null), { once: true }));
  let r = await Promise.race([settled, aborted]);
  if (r === null) {
    // give it a moment to hand back what it has
    let grace: NodeJS.Timeout | undefined;
    r = await Promise.race([settled, new Promise<null>((resolve) => (grace = setTimeout(() => resolve(null), GRACE_MS)))]);
    clearTimeout(grace);
  }
  clearTimeout(timer);
  stop?.removeEventListener('abort', onStop);
  ac.abort(); // whatever the task still holds is released
  const durationMs = Math.round(performance.now() - t0);
  const limit = `time limit of ${limitMs / 1000}s reached`;
  if (r === null) return { produced: [], error: { skipped: false, reason: timedOut ? limit : 'interrupted' }, durationMs, timedOut };
  if ('err' in r) {
    const reason = timedOut ? `${limit} (${errorText(r.err)})` : errorText(r.err);
    return { produced: [], error: { skipped: r.err instanceof Skip, reason }, durationMs, timedOut };
  }
  if (timedOut) {
    for (const p of r.ok) {
      p.truncated = true;
      (p.notes ??= []).push(`${limit}: cut there`);
    }
  }
  return { produced: r.ok, durationMs, timedOut };
}

/** One line about an error: its message, with the errno name (EACCES...) where the message lacks it. */
export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  return code && /^E[A-Z0-9]+$/.test(code) && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
}
