// logforward as a command: one sender per destination, each on its own memlogd connection, and
// the state file they share; runs until the signal aborts (SIGTERM in cmd/logforward.ts), then
// ends every connection gracefully and saves the state.

import os from 'node:os';
import { ERR, MemlogdError, UsageError } from '../protocol/errors.js';
import { hostnameField } from './appname.js';
import { settingsOf, type ForwardOptions, type ForwardSettings } from './options.js';
import { Sender, type SenderHost } from './sender.js';
import { readForwardState, writeForwardState, type SavedDestinations } from './state.js';
import { parseDestination, type Destination } from './uri.js';

/** Parses the destinations; a bad one, or two the state file could not tell apart, is a usage error. */
export function parseDestinations(uris: string[], o: Pick<ForwardSettings, 'format' | 'facility'>): Destination[] {
  if (uris.length === 0) throw new UsageError('no destination given (for example relp://logs.example:2514)');
  const dests: Destination[] = [];
  for (const u of uris) {
    try {
      dests.push(parseDestination(u, o));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  const keys = new Set<string>();
  for (const d of dests) {
    if (keys.has(d.key)) throw new UsageError(`${d.uri}: given twice (same transport, address and filters)`);
    keys.add(d.key);
  }
  return dests;
}

/** The state file of a run: what every sender saves, written now or within the save interval. */
class StateStore implements SenderHost {
  senders: Sender[] = [];
  private timer: NodeJS.Timeout | null = null;
  private failing = false;

  constructor(private readonly file: string | null, private readonly o: ForwardSettings, private readonly earlier: SavedDestinations) {}

  /** Writes the state file; throws what the file system said. */
  write(): void {
    if (this.file === null) return;
    const all: SavedDestinations = { ...this.earlier };
    for (const s of this.senders) all[s.d.key] = s.saved();
    writeForwardState(this.file, all, this.o.fsync);
  }

  saveNow(): boolean {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    try {
      this.write();
    } catch (err) {
      if (!this.failing) this.o.log(`cannot save the state to ${this.file}: ${(err as Error).message}; retrying at the next change`);
      this.failing = true;
      return false;
    }
    if (this.failing) this.o.log(`state saved to ${this.file} again`);
    this.failing = false;
    return true;
  }

  dirty(): void {
    this.timer ??= setTimeout(() => this.saveNow(), this.o.saveIntervalMs);
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** Forwards until signal aborts; resolves after a clean shutdown (state saved). */
export async function logforward(uris: string[], opts: ForwardOptions, signal?: AbortSignal): Promise<void> {
  const o = settingsOf(opts);
  const dests = parseDestinations(uris, o);
  const hostname = hostnameField(o.hostname || os.hostname());
  let saved: SavedDestinations = {};
  if (o.state !== null) {
    try {
      saved = readForwardState(o.state);
    } catch (err) {
      if (err instanceof MemlogdError && err.code === ERR.STATE_INVALID) {
        // Starting over may send duplicates; it loses nothing.
        o.log(`${o.state}: ${err.message}; starting from everything memlogd holds`);
      } else throw new MemlogdError(ERR.STATE_FILE, `cannot read the state file ${o.state}: ${(err as Error).message}`, { cause: err, path: o.state });
    }
  }
  const store = new StateStore(o.state, o, saved);
  store.senders = dests.map((d) => new Sender(d, o, hostname, saved[d.key] ?? null, store));
  // The state file must be writable before anything is sent (a resume without it would send everything again).
  try {
    store.write();
  } catch (err) {
    throw new MemlogdError(ERR.STATE_FILE, `cannot write the state file ${o.state}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      { cause: err, path: o.state ?? undefined });
  }
  if (signal?.aborted) return;
  for (const s of store.senders) s.start();
  await new Promise<void>((resolve) => {
    if (!signal) return; // runs forever
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await Promise.all(store.senders.map((s) => s.stop()));
  store.close();
  store.saveNow();
}
