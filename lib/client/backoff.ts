// Waiting for memlogd: bounded exponential backoff with jitter, and a sleep a signal cuts short.
// Shared by logread --retry and logwrite's reconnects.

/** The wait before attempt n: min*2^n capped at max, randomised to 50-100 % of that (jitter). */
export function retryDelay(attempt: number, minMs = 100, maxMs = 5000, random = Math.random): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling * (0.5 + random() * 0.5));
}

/** retryDelay with its attempt counter. */
export class Backoff {
  private n = 0;
  constructor(private readonly minMs: number, private readonly maxMs: number) {}
  next(): number {
    return retryDelay(this.n++, this.minMs, this.maxMs);
  }
  reset(): void {
    this.n = 0;
  }
}

/** Resolves after ms, or as soon as signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
