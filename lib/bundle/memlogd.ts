// What memlogd holds, over protocol v2: the full dump (NDJSON with seq and gap records) with its
// text rendering and the kernel's lines (source kmsg), and the stats record with its report.

import { requestLines } from '../client/query.js';
import { KMSG_SOURCE } from '../kmsg/command.js';
import { formatStats } from '../logread/format.js';
import { ERR, MemlogdError } from '../protocol/errors.js';
import { decodeRecord, type QueryRequest } from '../protocol/v2.js';
import { countsOf, dumpNdjson, dumpText, parseDump, redactDump } from './dump.js';
import type { Redactor } from './redact.js';
import type { Produced, Task } from './task.js';

// A full store (8 MiB by default) streams in well under a second; a loaded VM gets 30 times that.
const DUMP_LIMIT_MS = 30_000;
const STATS_LIMIT_MS = 10_000;

function refused(code: string, message: string): Error {
  return new MemlogdError(code === ERR.ACCESS_DENIED ? ERR.ACCESS_DENIED : ERR.PROTOCOL, `memlogd refused the request: ${message}`);
}

const noAnswer = () => new MemlogdError(ERR.CLOSED, 'memlogd closed the connection without answering the v2 request');

export const DUMP_PATH = 'memlogd/dump.ndjson';
const TEXT_PATH = 'memlogd/logread.txt';
const KMSG_ITEM = 'kernel/kmsg-memlogd.txt';
const STATS_PATH = 'memlogd/stats.json';
const STATS_TEXT_PATH = 'memlogd/stats.txt';

/** memlogd's dump: the NDJSON, logread's text, and the kernel's lines, masked per source. */
export function dumpTask(socket: string, redactor: Redactor, now: () => number): Task {
  const req: QueryRequest = { mode: 'dump' };
  const source = { type: 'memlogd' as const, socket, request: JSON.stringify(req) };
  return {
    path: DUMP_PATH, also: [TEXT_PATH, KMSG_ITEM], source, limitMs: DUMP_LIMIT_MS,
    run: async (signal) => {
      const d = parseDump(await requestLines(socket, req, signal));
      if (d.error) throw refused(d.error.code, d.error.message);
      if (!d.started) throw noAnswer();
      const counts = redactDump(d, redactor);
      const notes = d.complete || signal.aborted ? [] : ['memlogd closed the connection before the end of the dump'];
      const truncated = !d.complete;
      const derived = { type: 'derived' as const, from: DUMP_PATH };
      const isKmsg = (s: string) => s === KMSG_SOURCE;
      const items: Produced[] = [
        { path: DUMP_PATH, source, data: Buffer.from(dumpNdjson(d)), redacted: countsOf(counts), truncated, notes },
        { path: TEXT_PATH, source: derived, data: Buffer.from(dumpText(d, now())), redacted: countsOf(counts), truncated, notes: [...notes] },
      ];
      const kmsg = dumpText(d, now(), isKmsg);
      items.push({
        path: KMSG_ITEM, source: derived, data: Buffer.from(kmsg), redacted: countsOf(counts, isKmsg), truncated, notes: [...notes],
        ...(kmsg ? {} : { skip: `memlogd holds no entries of source ${KMSG_SOURCE} (is the kmsg service running?)` }),
      });
      return items;
    },
  };
}

/** memlogd's stats record, as received and as logread --stats prints it. */
export function statsTask(socket: string): Task {
  const req: QueryRequest = { mode: 'stats' };
  const source = { type: 'memlogd' as const, socket, request: JSON.stringify(req) };
  return {
    path: STATS_PATH, also: [STATS_TEXT_PATH], source, limitMs: STATS_LIMIT_MS,
    run: async (signal) => {
      const lines = (await requestLines(socket, req, signal)).filter(Boolean);
      if (lines.length === 0) throw noAnswer();
      const r = decodeRecord(lines[0]);
      if (r.type === 'error') throw refused(String(r.code), String(r.message));
      if (r.type !== 'stats') throw new MemlogdError(ERR.PROTOCOL, `memlogd answered a stats request with ${lines[0].slice(0, 80)}`);
      return [
        { path: STATS_PATH, source, data: Buffer.from(lines[0] + '\n') },
        { path: STATS_TEXT_PATH, source: { type: 'derived', from: STATS_PATH }, data: Buffer.from(formatStats(r) + '\n') },
      ];
    },
  };
}
