// Receive timestamps with nanosecond digits, cheaply, that still follow the wall clock.
//
// Date.now() has millisecond resolution; the reference (Go time.Now) prints nanoseconds. We
// anchor the monotonic performance.now() to the wall clock and re-anchor whenever the two
// disagree by more than RESYNC_MS: a VM often boots with a wrong clock that is set later, and
// log times must follow that step rather than drift from the boot-time clock forever.

import { performance } from 'node:perf_hooks';

/** Largest tolerated disagreement between the anchored clock and Date.now(). */
const RESYNC_MS = 2;

export class WallClock {
  /** Result of the last now(): whole seconds since the epoch, and nanoseconds. */
  sec = 0;
  nsec = 0;
  private anchorSec = 0;
  private anchorNs = 0;
  private anchorPerf = 0;

  constructor() {
    this.anchor(Date.now());
  }

  private anchor(wallMs: number): void {
    this.anchorPerf = performance.now();
    this.anchorSec = Math.floor(wallMs / 1000);
    this.anchorNs = (wallMs - this.anchorSec * 1000) * 1e6;
  }

  /** Samples the clock into sec/nsec. Never goes backwards unless the wall clock does. */
  now(): void {
    let ns = this.anchorNs + Math.round((performance.now() - this.anchorPerf) * 1e6);
    let sec = this.anchorSec + Math.floor(ns / 1e9);
    ns -= (sec - this.anchorSec) * 1e9;
    const wall = Date.now();
    const mine = sec * 1000 + ns / 1e6;
    if (mine - wall > RESYNC_MS || wall - mine > RESYNC_MS) {
      this.anchor(wall);
      sec = this.anchorSec;
      ns = this.anchorNs;
    }
    this.sec = sec;
    this.nsec = ns;
  }
}
