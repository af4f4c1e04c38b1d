// Kernel log times as wall-clock times. A record carries ts_usec, microseconds on the kernel's
// printk clock, which runs with CLOCK_MONOTONIC: it starts at boot and stops while the machine is
// suspended. Its wall time is ts_usec plus the offset CLOCK_REALTIME - CLOCK_MONOTONIC, sampled
// fresh (the wall clock is often set, or stepped, after boot) to the microsecond through the
// addon (Date.now() has milliseconds only). The reference computed `now - uptime` in whole
// seconds once, so every line could be up to a second off.
//
// Two limits, measured and handled:
// - The printk clock is local_clock() (sched_clock plus an offset fixed at boot), which is not
//   exactly CLOCK_MONOTONIC: on this project's test VM it runs 1.43 ms ahead, so times here are
//   1.4-1.6 ms late (measured with bench/kmsg.ts). No clock a process can read follows
//   local_clock, and the receive time is later still (2-5 ms after the write here), so neither
//   can correct it; it is the kernel's own time base, and the error is constant.
// - Across a suspend the offset grows by the time spent suspended, so a record logged before the
//   suspend and read after it would be placed too late. A live record was logged a moment ago:
//   if its computed time and its receive time disagree by more than LIVE_TOLERANCE_US, the
//   receive time is the honest one and is used. Records replayed at start have no receive time
//   of their own: their times assume no suspend happened since they were logged.

import * as native from '../native/index.js';

/** A live record whose ts-derived time is further than this from its receive time gets the receive time. */
export const LIVE_TOLERANCE_US = 1_000_000;

/** Wall time in microseconds since the epoch. */
export type WallUs = number;

const us = ([s, ns]: [number, number]) => s * 1e6 + Math.floor(ns / 1000);

export class KernelClock {
  private offset = 0;

  constructor(private readonly sample: () => { realtimeUs: number; monotonicUs: number } = sampleClocks) {
    this.refresh();
  }

  /** Samples the offset again (once per batch of records: it changes when the wall clock is set). */
  refresh(): void {
    const a = this.sample();
    this.offset = a.realtimeUs - a.monotonicUs;
  }

  /** The receive time now. */
  now(): WallUs {
    return this.sample().realtimeUs;
  }

  /** Wall time of a record; live: it was read as it arrived, at receivedUs. */
  wallTime(tsUsec: number, live: boolean, receivedUs: WallUs): WallUs {
    if (tsUsec < 0) return receivedUs;
    const t = tsUsec + this.offset;
    if (live && Math.abs(t - receivedUs) > LIVE_TOLERANCE_US) return receivedUs;
    return t;
  }
}

/** Both clocks, realtime read on either side of monotonic so the offset is exact to ~1 us. */
export function sampleClocks(): { realtimeUs: number; monotonicUs: number } {
  const r1 = us(native.clockGettime(native.CLOCK_REALTIME));
  const m = us(native.clockGettime(native.CLOCK_MONOTONIC));
  const r2 = us(native.clockGettime(native.CLOCK_REALTIME));
  return { realtimeUs: Math.round((r1 + r2) / 2), monotonicUs: m };
}
