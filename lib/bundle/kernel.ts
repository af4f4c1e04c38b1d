// The kernel log read straight from /dev/kmsg, without blocking (what the kernel still holds now),
// each record as the kmsg relay writes it: `(<seq>) - <time>: <level>: <text> [dictionary]`.
// Next to memlogd's `kmsg` source, it shows what the relay never got (it was not running, or
// records were lost) and it works when memlogd is down.

import { KernelClock } from '../kmsg/clock.js';
import { readKmsgNow } from '../kmsg/device.js';
import { formatRecord } from '../kmsg/format.js';
import { Skip, type Task } from './task.js';

// One non-blocking read per record: the whole ring (a few MiB at most) takes milliseconds.
const KMSG_LIMIT_MS = 10_000;

export function kmsgTask(device: string): Task {
  const source = { type: 'device' as const, path: device };
  return {
    path: 'kernel/dev-kmsg.txt', source, limitMs: KMSG_LIMIT_MS,
    run: async () => {
      let read: ReturnType<typeof readKmsgNow>;
      try {
        read = readKmsgNow(device);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Skip(`${device}: no such device`);
        throw err;
      }
      const clock = new KernelClock();
      const now = clock.now();
      const text = read.records.map((r) => formatRecord(r, clock.wallTime(r.tsUsec, false, now)) + '\n').join('');
      const notes = read.overruns ? [`the kernel overwrote records while they were read (${read.overruns} times); the sequence numbers show where`] : [];
      return [{ path: 'kernel/dev-kmsg.txt', source, data: Buffer.from(text), notes }];
    },
  };
}
