// Load generator worker thread: writes lines into pipe write ends, as a container would.
// Each line is `<src:5> <seq:10> <sent-ns:19> xxx...\n`, exactly `size` bytes with the newline.
// Blocks are built once and only the digits are patched, so generating costs about as much as
// copying (the bench shows the generator is not the bottleneck: the baseline reader is fed by
// the same writers). Blocking writeSync is fine here: this is a worker thread.

import fs from 'node:fs';
import os from 'node:os';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { MIN_SIZE, NS_AT, SEQ_AT, SRC_AT } from './line-format.js';

export interface WriterJob {
  /** [fd, source index] pairs this worker feeds, round robin. */
  fds: Array<[number, number]>;
  lines: number;
  size: number;
  /** Lines per second per fd, 0 = as fast as possible. */
  rate: number;
  /** Waits on this before starting, so every writer starts together. */
  start: SharedArrayBuffer;
  /** Scheduling priority of the writer thread (0 = unchanged). */
  nice: number;
  /**
   * Paced in writes of this many lines (the low-rate scenario: a service writing 100 lines every
   * 10 ms): `rate` is then lines/s across all fds, each write going to the next fd in turn.
   */
  batch?: number;
}

const BLOCK_LINES = 512;

function putDigits(buf: Buffer, at: number, width: number, v: number | bigint): void {
  let x = BigInt(v);
  for (let i = at + width - 1; i >= at; i--) {
    buf[i] = 48 + Number(x % 10n);
    x /= 10n;
  }
}

function putInt(buf: Buffer, at: number, width: number, v: number): void {
  for (let i = at + width - 1; i >= at; i--) {
    buf[i] = 48 + (v % 10);
    v = Math.floor(v / 10);
  }
}

/** Pipes may take a write in parts (signals); keep going until all of it is in. */
function writeAll(fd: number, buf: Buffer, len = buf.length): void {
  let off = 0;
  while (off < len) off += fs.writeSync(fd, buf, off, len - off);
}

function template(size: number, lines: number): Buffer {
  const one = Buffer.alloc(size, 'x');
  one.write('00000 0000000000 0000000000000000000 ', 0, 'latin1');
  one[size - 1] = 10;
  return Buffer.concat(Array.from({ length: lines }, () => one));
}

function run(job: WriterJob): void {
  const { fds, lines, size, rate } = job;
  if (size < MIN_SIZE) throw new RangeError(`line size must be >= ${MIN_SIZE}`);
  // Nice 10 (this thread only, on Linux): on a 2-core machine ten writer threads bursting into
  // a thousand pipes would otherwise take the CPU that memlogd and its follower are measured
  // on. The generator still outruns memlogd (the baseline column shows how far).
  if (job.nice) os.setPriority(0, job.nice);
  const go = new Int32Array(job.start);
  Atomics.wait(go, 0, 0);
  if (rate > 0 && job.batch) {
    const block = template(size, job.batch);
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    const intervalNs = BigInt(Math.round((1e9 * job.batch) / rate));
    let due = process.hrtime.bigint();
    const writes = Math.ceil((lines * fds.length) / job.batch);
    for (let w = 0; w < writes; w++) {
      const [fd, src] = fds[w % fds.length];
      for (let i = 0; i < job.batch; i++) {
        putInt(block, i * size + SRC_AT, 5, src);
        putInt(block, i * size + SEQ_AT, 10, Math.floor(w / fds.length) * job.batch + i);
      }
      writeAll(fd, block);
      due += intervalNs;
      const waitNs = due - process.hrtime.bigint();
      if (waitNs > 0n) Atomics.wait(sleeper, 0, 0, Number(waitNs) / 1e6);
    }
  } else if (rate > 0) {
    // Paced: one line per write, stamped with CLOCK_MONOTONIC (process.hrtime is the same clock
    // in every process on the machine) just before the write.
    const buf = template(size, 1);
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    const intervalNs = BigInt(Math.round(1e9 / rate));
    let due = process.hrtime.bigint();
    for (let seq = 0; seq < lines; seq++) {
      for (const [fd, src] of fds) {
        putInt(buf, SRC_AT, 5, src);
        putInt(buf, SEQ_AT, 10, seq);
        putDigits(buf, NS_AT, 19, process.hrtime.bigint());
        writeAll(fd, buf);
      }
      due += intervalNs;
      const waitNs = due - process.hrtime.bigint();
      if (waitNs > 100_000n) Atomics.wait(sleeper, 0, 0, Number(waitNs - 80_000n) / 1e6);
      while (process.hrtime.bigint() < due) { /* the last few microseconds */ }
    }
  } else {
    const block = template(size, BLOCK_LINES);
    const next = fds.map(() => 0);
    let open = fds.length;
    while (open > 0) {
      for (let k = 0; k < fds.length; k++) {
        const [fd, src] = fds[k];
        const from = next[k];
        if (from >= lines) continue;
        const n = Math.min(BLOCK_LINES, lines - from);
        for (let i = 0; i < n; i++) {
          putInt(block, i * size + SRC_AT, 5, src);
          putInt(block, i * size + SEQ_AT, 10, from + i);
        }
        writeAll(fd, block, n * size);
        next[k] = from + n;
        if (from + n >= lines) open--;
      }
    }
  }
  // The fds belong to the main thread (closing them here would warn); it closes them on exit.
}

if (!isMainThread) {
  run(workerData as WriterJob);
  parentPort?.postMessage('done');
}
