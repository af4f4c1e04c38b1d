// `memlogd --restart`: asks the memlogd serving a query socket for a graceful restart. It finds
// the serving process in the stats record (its pid), sends it SIGUSR2, and waits until another
// pid serves the same instance (success), or until memlogd logs why it could not.

import { ERR, MemlogdError } from '../protocol/errors.js';
import { decodeRecord, type QueryRequest } from '../protocol/v2.js';
import { sleep } from './backoff.js';
import { requestLines } from './query.js';

/** How long a restart may take before --restart gives up waiting (the daemon gives up at 20 s). */
const WAIT_MS = 30_000;

async function ask(socket: string, req: QueryRequest): Promise<Array<Record<string, unknown>>> {
  return (await requestLines(socket, req)).filter(Boolean).map((l) => decodeRecord(l) as unknown as Record<string, unknown>);
}

/** Restarts the memlogd at socket; resolves with the old and new pids. Throws a coded error. */
export async function requestRestart(socket: string): Promise<{ from: number; to: number }> {
  const before = (await ask(socket, { mode: 'stats' }))[0];
  const pid = before?.pid;
  if (typeof pid !== 'number') throw new MemlogdError(ERR.PROTOCOL, 'memlogd does not say its pid (an older memlogd cannot restart gracefully)');
  const marker = Date.now();
  process.kill(pid, 'SIGUSR2');
  const deadline = marker + WAIT_MS;
  while (Date.now() < deadline) {
    await sleep(100);
    let now: Record<string, unknown> | undefined;
    try {
      now = (await ask(socket, { mode: 'stats' }))[0];
    } catch {
      continue; // between the two processes: the socket is there all along, but be patient
    }
    if (typeof now?.pid === 'number' && now.pid !== pid) return { from: pid, to: now.pid };
    const notes = await ask(socket, { mode: 'dump', sources: ['memlogd'], since: new Date(marker).toISOString() });
    const failed = notes.find((r) => typeof r.msg === 'string' && r.msg.startsWith('graceful restart failed'));
    if (failed) throw new MemlogdError(ERR.RESTART, String(failed.msg));
  }
  throw new MemlogdError(ERR.RESTART, `memlogd (pid ${pid}) did not restart within ${WAIT_MS / 1000} s`);
}
