// A graceful restart carries state larger than one hand-over datagram (64 KiB): a stalled reader
// with an unsent batch (its pending bytes travel as base64 in its state), and a few hundred
// sources (the store's per-source records). Both once failed the restart ("handover message of
// N bytes"; the old memlogd served on). The reader then gets everything, once, in order.

import fs from 'node:fs';
import net from 'node:net';
import { expect, it } from 'vitest';
import { handOffPipe } from '../../lib/client/handoff.js';
import { requestRestart } from '../../lib/client/restart.js';
import * as native from '../../lib/native/index.js';
import { useCleanups } from '../support/cleanup.js';
import { startDaemon, waitFor } from '../support/helpers.js';

const { track, defer } = useCleanups();

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

it('restarts with a stalled reader holding an unsent batch, and with 400 sources; the reader misses nothing', async () => {
  const d = track(await startDaemon(['-max-lines', '100000', '--max-bytes', String(64 << 20)]));
  // a v1 follower that reads nothing for now: memlogd's send buffer fills, a batch stays pending
  const got: string[] = [];
  let rest = '';
  const sock = net.createConnection({ path: d.query });
  sock.on('connect', () => sock.write(Buffer.from([1])));
  sock.setEncoding('utf8');
  sock.on('data', (x: string) => {
    const parts = (rest + x).split('\n');
    rest = parts.pop()!;
    for (const p of parts) got.push(JSON.parse(p).msg);
  });
  await new Promise((r) => setTimeout(r, 300));
  sock.pause();
  const line = (i: number) => `line ${i} ${'x'.repeat(200)}`;
  const w = handOffPipe(d.log, 'big');
  const n = 40_000; // ~8 MB: beyond the kernel's buffers, so memlogd holds a pending batch
  for (let i = 0; i < n; i += 1000) fs.writeSync(w, Array.from({ length: 1000 }, (_, k) => line(i + k) + '\n').join(''));
  native.close(w);
  // and 400 sources, one line each
  for (let i = 0; i < 400; i++) {
    const fd = handOffPipe(d.log, `source-${i}-${'n'.repeat(100)}`);
    fs.writeSync(fd, `hello from ${i}\n`);
    native.close(fd);
  }
  await new Promise((r) => setTimeout(r, 500));
  const r = await requestRestart(d.query);
  // the successor is not a child of the test: stopped by its pid
  defer(async () => {
    if (alive(r.to)) process.kill(r.to, 'SIGTERM');
    await waitFor(() => !alive(r.to), 'the successor to stop');
  });
  expect(r.to).not.toBe(r.from);
  sock.resume();
  await waitFor(() => got.filter((m) => m.startsWith('line ')).length >= n, `the ${n} lines`, 60_000);
  const lines = got.filter((m) => m.startsWith('line '));
  expect(lines).toEqual(Array.from({ length: n }, (_, i) => line(i)));
  expect(got.filter((m) => m.startsWith('gap:'))).toEqual([]);
  sock.destroy();
}, 120_000);
