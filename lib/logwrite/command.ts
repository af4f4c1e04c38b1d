// logwrite as a command: take the log directory (waiting while its disk is full or read-only),
// then write until the signal aborts (SIGTERM in cmd/logwrite.ts).

import { Backoff, sleep } from '../client/backoff.js';
import { settingsOf, type LogwriteOptions } from './options.js';
import { Logwriter } from './writer.js';

/** Errors at start that are waited out: the disk is full, read-only or failing right now. */
const RETRY_OPEN = new Set(['EROFS', 'ENOSPC', 'EDQUOT', 'EIO', 'EBUSY']);

/** Runs logwrite until signal aborts (SIGTERM in cmd/logwrite.ts); resolves after a clean exit. */
export async function logwrite(opts: LogwriteOptions, signal?: AbortSignal): Promise<void> {
  // A directory on a disk that is full or read-only (not remounted yet) is waited for.
  const o = settingsOf(opts);
  const backoff = new Backoff(o.backoffMinMs, o.backoffMaxMs);
  let lw: Logwriter;
  let said = false;
  for (;;) {
    try {
      lw = await Logwriter.open(opts);
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (!RETRY_OPEN.has(code) || signal?.aborted) throw err;
      if (!said) o.log(`cannot use ${o.logDir}: ${(err as Error).message}; retrying`);
      said = true;
      await sleep(backoff.next(), signal);
      if (signal?.aborted) return;
    }
  }
  if (signal) {
    if (signal.aborted) lw.stop();
    else signal.addEventListener('abort', () => lw.stop(), { once: true });
  }
  await lw.run();
}
