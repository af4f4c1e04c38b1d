// Loading memlogd for the client scenarios (logwrite, logforward): lines of a fixed size fed
// through a pipe handed over as init does, the store's line count from a stats query, and the
// scenarios' command-line options.

import fs from 'node:fs';
import { handOffPipe } from '../lib/client/handoff.js';
import { requestLines } from '../lib/client/query.js';
import * as native from '../lib/native/index.js';
import { parseRecord } from '../lib/protocol/v2.js';

/** The value after `name` on the command line (`--lines 1000`), or undefined. */
export function option(name: string): string | undefined {
  const args = process.argv.slice(2);
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** The source the scenarios feed, and the size of each message. */
export const SOURCE = 'bench.out';
export const MSG_BYTES = 100;

/** Lines memlogd's store holds now. */
export async function storeLines(query: string): Promise<number> {
  let lines = 0;
  for (const l of await requestLines(query, { mode: 'stats' })) {
    const r = l ? parseRecord(l) : null;
    if (r?.type === 'stats') lines = r.store?.lines ?? 0;
  }
  return lines;
}

/** Writes n lines of MSG_BYTES (`line <i> xxx...`, i from `from`) into a new pipe memlogd reads as source. */
export function feed(logSock: string, source: string, from: number, n: number): void {
  const w = handOffPipe(logSock, source);
  const pad = 'x'.repeat(MSG_BYTES);
  const CHUNK = 2000;
  for (let i = from; i < from + n; i += CHUNK) {
    let text = '';
    for (let j = i; j < Math.min(from + n, i + CHUNK); j++) {
      const head = `line ${j} `;
      text += head + pad.slice(head.length) + '\n';
    }
    const buf = Buffer.from(text);
    let o = 0;
    while (o < buf.length) o += fs.writeSync(w, buf, o, buf.length - o);
  }
  native.close(w);
}
