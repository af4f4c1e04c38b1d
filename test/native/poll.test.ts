// Readiness through libuv: callbacks on the main thread, stop, ref/unref,
// async context, exceptions, and process exit (child processes for the
// behaviours that only show at process level).
import { AsyncLocalStorage } from 'node:async_hooks';
import { constants as osConstants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import * as native from '../../lib/native/index.js';
import { useCleanups } from '../support/cleanup.js';
import { ADDON_PATH, dgramPair, runChild } from '../support/native.js';

const E = osConstants.errno;
const { tmpDir, fds } = useCleanups();
const polls: native.PollHandle[] = [];
// after hooks run in reverse order: polls stop before useCleanups closes their fds
afterEach(() => {
  for (const h of polls.splice(0)) native.pollStop(h);
});

function track(h: native.PollHandle): native.PollHandle {
  polls.push(h);
  return h;
}

/** Resolves with the first value passed to `cb`, rejects after ms. */
function waitFor<T>(ms: number, arm: (done: (v: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no callback within ${ms} ms`)), ms);
    arm((v) => {
      clearTimeout(t);
      resolve(v);
    });
  });
}

// Shared by the child scripts: a bound dgram receiver and a connected sender,
// in the directory of the script itself (a test temp dir removed by afterEach).
const CHILD_PAIR = `
import { fileURLToPath } from 'node:url';
const path = fileURLToPath(new URL('c-' + process.pid + '.sock', import.meta.url));
const rx = ADDON.socketDgram();
if (ADDON.bind(rx, path) !== 0) throw new Error('bind');
const tx = ADDON.socketDgram();
if (ADDON.connect(tx, path) !== 0) throw new Error('connect');
const cleanup = () => { ADDON.close(rx); ADDON.close(tx); };
`;

describe('pollStart / pollStop', () => {
  it('fires a readable callback when a datagram arrives, and stops after pollStop', async () => {
    const { rx, tx } = dgramPair(tmpDir(), fds);
    const seen: Array<[number, number]> = [];
    const buf = Buffer.alloc(64);
    const got: string[] = [];
    let wake: (() => void) | undefined;
    const h = track(
      native.pollStart(rx, native.POLL_READABLE, (status, events) => {
        seen.push([status, events]);
        for (let r; (r = native.recvmsg(rx, buf)) !== null; ) got.push(buf.subarray(0, r.bytes).toString());
        wake?.();
      }),
    );
    await sleep(50);
    expect(seen).toEqual([]); // nothing queued: no callback

    await waitFor<void>(10_000, (done) => {
      wake = done;
      native.sendmsg(tx, Buffer.from('first'));
    });
    expect(seen[0]).toEqual([0, native.POLL_READABLE]);
    expect(got).toEqual(['first']);

    native.pollStop(h);
    native.pollStop(h); // idempotent
    const before = seen.length;
    native.sendmsg(tx, Buffer.from('second'));
    await sleep(200);
    expect(seen.length).toBe(before);
    expect(native.recvmsg(rx, buf)).toMatchObject({ bytes: 6 }); // still queued, nobody read it
  });

  it('reports writable readiness', async () => {
    const { tx } = dgramPair(tmpDir(), fds);
    const events = await waitFor<number>(10_000, (done) => {
      const h = track(native.pollStart(tx, native.POLL_WRITABLE, (status, ev) => {
        expect(status).toBe(0);
        native.pollStop(h); // stopping from inside the callback is fine
        done(ev);
      }));
    });
    expect(events & native.POLL_WRITABLE).toBe(native.POLL_WRITABLE);
  });

  it('runs the callback in the async context of pollStart', async () => {
    const { rx, tx } = dgramPair(tmpDir(), fds);
    const als = new AsyncLocalStorage<string>();
    const store = await waitFor<string | undefined>(10_000, (done) => {
      als.run('from-pollStart', () => {
        track(native.pollStart(rx, native.POLL_READABLE, () => {
          native.recvmsg(rx, Buffer.alloc(16));
          done(als.getStore());
        }));
      });
      native.sendmsg(tx, Buffer.from('ctx'));
    });
    expect(store).toBe('from-pollStart');
  });

  it('drains process.nextTick and promise jobs queued by the callback', async () => {
    const { rx, tx } = dgramPair(tmpDir(), fds);
    const order = await waitFor<string[]>(10_000, (done) => {
      const log: string[] = [];
      track(native.pollStart(rx, native.POLL_READABLE, () => {
        native.recvmsg(rx, Buffer.alloc(16));
        log.push('cb');
        process.nextTick(() => log.push('tick'));
        void Promise.resolve().then(() => {
          log.push('promise');
          done(log);
        });
      }));
      native.sendmsg(tx, Buffer.from('x'));
    });
    expect(order).toEqual(['cb', 'tick', 'promise']);
  });

  it('returns errors for bad fds and bad events', () => {
    expect(() => native.pollStart(-1, native.POLL_READABLE, () => {})).toThrow(expect.objectContaining({ code: 'EBADF' }));
    expect(native.raw.pollStart(-1, native.POLL_READABLE, () => {})).toBe(-E.EBADF);
    const [r] = fds.add(native.pipe());
    expect(native.raw.pollStart(r, 0, () => {})).toBe(-E.EINVAL);
    // One fd can only be watched once on a loop.
    track(native.pollStart(r, native.POLL_READABLE, () => {}));
    expect(native.raw.pollStart(r, native.POLL_READABLE, () => {})).toBe(-E.EEXIST);
  });

  it('pollRef/pollUnref/pollStop after stop are no-ops', () => {
    const [r] = fds.add(native.pipe());
    const h = native.pollStart(r, native.POLL_READABLE, () => {});
    native.pollUnref(h);
    native.pollRef(h);
    native.pollStop(h);
    expect(native.raw.pollUnref(h)).toBe(0);
    expect(native.raw.pollRef(h)).toBe(0);
    expect(native.raw.pollStop(h)).toBe(0);
  });
});

describe('process-level behaviour (child node processes)', () => {
  it('a stopped poll does not keep the process alive', async () => {
    const res = await runChild(tmpDir(), CHILD_PAIR + `
const h = ADDON.pollStart(rx, 1, (status, events) => {
  const r = ADDON.recvmsg(rx, Buffer.alloc(64));
  console.log('got', status, events, r.bytes);
  ADDON.pollStop(h);
  cleanup();
});
ADDON.sendmsg(tx, Buffer.from('hello'), []);
`, 20_000);
    expect(res.timedOut).toBe(false);
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe('got 0 1 5\n');
    expect(res.code).toBe(0);
  });

  it('a running poll keeps the process alive, unless unref’d', async () => {
    const dir = tmpDir();
    const alive = await runChild(dir, CHILD_PAIR + `
ADDON.pollStart(rx, 1, () => {});
console.log('started');
`, 1500);
    expect(alive.timedOut).toBe(true);
    expect(alive.stdout).toBe('started\n');

    const unref = await runChild(dir, CHILD_PAIR + `
const h = ADDON.pollStart(rx, 1, () => {});
ADDON.pollUnref(h);
console.log('unref');
`, 20_000);
    expect(unref.timedOut).toBe(false);
    expect(unref.code).toBe(0);
    expect(unref.stdout).toBe('unref\n');
  });

  it('an exception thrown in the callback is an uncaught exception, not a crash', async () => {
    const dir = tmpDir();
    const handled = await runChild(dir, CHILD_PAIR + `
let h;
process.on('uncaughtException', (err) => {
  console.log('caught', err.message);
  ADDON.pollStop(h);
  cleanup();
});
h = ADDON.pollStart(rx, 1, () => {
  ADDON.recvmsg(rx, Buffer.alloc(64));
  throw new Error('boom');
});
ADDON.sendmsg(tx, Buffer.from('x'), []);
`, 20_000);
    expect(handled.timedOut).toBe(false);
    expect(handled.stdout).toBe('caught boom\n');
    expect(handled.code).toBe(0);

    const unhandled = await runChild(dir, CHILD_PAIR + `
process.on('exit', cleanup);
ADDON.pollStart(rx, 1, () => { throw new Error('kaboom'); });
ADDON.sendmsg(tx, Buffer.from('x'), []);
`, 20_000);
    expect(unhandled.timedOut).toBe(false);
    expect(unhandled.signal).toBeNull();
    expect(unhandled.code).toBe(1);
    expect(unhandled.stderr).toContain('kaboom');
  });

  it('handles survive GC: many start/stop cycles, stale handles, dropped handles', async () => {
    const res = await runChild(tmpDir(), CHILD_PAIR + `
const stale = [];
for (let i = 0; i < 2000; i++) {
  const h = ADDON.pollStart(rx, 1, () => {});
  ADDON.pollStop(h);
  if (i % 100 === 0) stale.push(h);
}
await new Promise((r) => setImmediate(r));
globalThis.gc();
for (const h of stale) ADDON.pollStop(h);
// A dropped, still-running (unref'd) poll keeps working after GC.
let hits = 0;
(() => { ADDON.pollUnref(ADDON.pollStart(rx, 1, () => { hits++; ADDON.recvmsg(rx, Buffer.alloc(8)); })); })();
globalThis.gc();
ADDON.sendmsg(tx, Buffer.from('x'), []);
await new Promise((r) => setTimeout(r, 200));
console.log('hits', hits > 0);
`, 30_000, ['--expose-gc']);
    expect(res.timedOut).toBe(false);
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe('hits true\n');
    expect(res.code).toBe(0);
  });

  it('a poll still running when a worker thread is terminated is closed by the env cleanup hook', async () => {
    // Without that hook Node aborts the whole process ("uv_loop_close() while
    // having open handles") when the worker's loop is closed.
    const workerSrc = `
const ADDON = require(${JSON.stringify(ADDON_PATH)});
const [a] = ADDON.socketpair(2);
ADDON.pollStart(a, 1, () => {});
require('node:worker_threads').parentPort.postMessage('polling');
`;
    const res = await runChild(tmpDir(), `
import { Worker } from 'node:worker_threads';
const w = new Worker(${JSON.stringify(workerSrc)}, { eval: true });
w.on('message', async (m) => { console.log(m); await w.terminate(); console.log('terminated'); });
w.on('error', (e) => { console.log('error', e.message); });
`, 30_000);
    expect(res.timedOut).toBe(false);
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe('polling\nterminated\n');
    expect(res.code).toBe(0);
  });
});
