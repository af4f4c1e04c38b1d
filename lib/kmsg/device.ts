// Reading /dev/kmsg the way its ABI asks: one read(2) per record, into a buffer of at least
// 8 KiB (CONSOLE_EXT_LOG_MAX; a smaller one gets EINVAL), on a non-blocking fd. Node cannot do
// this itself: net.Socket refuses a character device, and fs.read would park a thread-pool
// thread in a blocking read. So readiness comes from the addon's uv_poll and each read is a
// non-blocking read(2) on the main thread. EPIPE means the kernel overwrote records before we
// read them; the next read returns the next record, and the gap shows in the sequence numbers.

import fs from 'node:fs';
import * as native from '../native/index.js';
import { codeOf } from '../protocol/errors.js';
import { parseRecord, type KmsgRecord } from './record.js';

/** The kernel's device. */
export const KMSG_PATH = '/dev/kmsg';
/** Bytes per read: twice CONSOLE_EXT_LOG_MAX (8192), the most one record takes. */
const RECORD_BUFFER = 16 * 1024;
/** Records read per readiness callback before yielding to the event loop. */
const RECORDS_PER_WAKEUP = 256;

/** Opens the device for reading, non-blocking, close-on-exec (from the first record the kernel still holds). */
export function openKmsg(path = KMSG_PATH): number {
  return fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
}

export interface KmsgReaderEvents {
  record(rec: KmsgRecord): void;
  /** The kernel overwrote records before they were read (EPIPE); the sequence numbers say how many. */
  overrun(): void;
  /** A read failed otherwise; reading stops. */
  error(err: Error): void;
  /** The records ready at one wake-up were all delivered. */
  batchEnd?(): void;
}

export class KmsgReader {
  private readonly buf = Buffer.allocUnsafe(RECORD_BUFFER);
  private poll: native.PollHandle | null = null;
  private closed = false;

  /** Takes ownership of fd (closed by close()). */
  constructor(readonly fd: number, private readonly on: KmsgReaderEvents) {}

  /** Reads whatever is there now, then every record as it arrives. */
  start(): void {
    if (this.drain(Infinity) > 0) this.on.batchEnd?.();
    if (this.closed) return;
    this.poll = native.pollStart(this.fd, native.POLL_READABLE, (status) => {
      if (status < 0) return this.fail(native.errnoError(status, 'poll'));
      if (this.drain(RECORDS_PER_WAKEUP) > 0) this.on.batchEnd?.();
    });
  }

  /** Reads up to max records that are ready now; returns how many. */
  drain(max: number): number {
    let n = 0;
    while (n < max && !this.closed) {
      let got: number | null;
      try {
        got = native.read(this.fd, this.buf);
      } catch (err) {
        if (codeOf(err) === 'EPIPE') {
          n++; // counts toward max, so even a kernel that kept saying EPIPE could not hold us here
          this.on.overrun();
          continue;
        }
        this.fail(err as Error);
        return n;
      }
      if (got === null || got === 0) return n;
      n++;
      this.on.record(parseRecord(this.buf, 0, got));
    }
    return n;
  }

  private fail(err: Error): void {
    this.close();
    this.on.error(err);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.poll) native.pollStop(this.poll);
    this.poll = null;
    fs.closeSync(this.fd);
  }
}

/** Every record the kernel holds now, read without blocking (for a one-off snapshot, e.g. a bundle). */
export function readKmsgNow(path = KMSG_PATH): { records: KmsgRecord[]; overruns: number } {
  const records: KmsgRecord[] = [];
  let overruns = 0;
  let failure: Error | null = null;
  const r = new KmsgReader(openKmsg(path), {
    record: (rec) => records.push(rec),
    overrun: () => overruns++,
    error: (err) => (failure = err),
  });
  try {
    r.drain(Infinity);
  } finally {
    r.close();
  }
  if (failure) throw failure;
  return { records, overruns };
}
