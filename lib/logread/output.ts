// logread's output stream: writes whose callback says the bytes were taken (the cursor follows
// what was printed, not what was received), backpressure, and the reader going away (EPIPE,
// `logread | head -1`) as a quiet end.

import type { Writable } from 'node:stream';

const guarded = new WeakSet<Writable>();

/**
 * The output stream as logread uses it: a write whose callback reports that the bytes were
 * taken (the cursor follows what was printed, not what was received), backpressure, and the
 * reader going away (EPIPE) as a quiet end.
 */
export class Output {
  closed = false;
  private pending = 0;
  private idleWaiters: Array<() => void> = [];
  private closeWaiters: Array<() => void> = [];
  private afterPending: Array<() => void> = [];

  constructor(readonly out: Writable) {
    out.on('error', this.onError);
    out.once('close', this.onClose);
  }

  private onError = (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') process.stderr.write(`logread: output: ${err.message}\n`);
    this.onClose();
  };

  private onClose = () => {
    if (this.closed) return;
    this.closed = true;
    this.settle();
    for (const w of this.closeWaiters.splice(0)) w();
  };

  detach(): void {
    this.out.off('error', this.onError);
    this.out.off('close', this.onClose);
    // a late EPIPE must not become an uncaught exception (one listener per stream, however often
    // logread() runs on it)
    if (!guarded.has(this.out)) {
      guarded.add(this.out);
      this.out.on('error', () => {});
    }
  }

  /** Resolves when the reader goes away. */
  whenClosed(): Promise<void> {
    return this.closed ? Promise.resolve() : new Promise((r) => this.closeWaiters.push(r));
  }

  /** Writes text; done() runs once the stream took it (not if it failed). False: wait for drain. */
  write(text: string | Buffer, done?: () => void): boolean {
    if (this.closed) return true;
    this.pending++;
    return this.out.write(text, (err) => {
      this.pending--;
      if (!err && done) done();
      if (this.pending === 0) this.settle();
    });
  }

  /** Runs fn after every write issued so far was taken (now, if none is pending). */
  afterWrites(fn: () => void): void {
    if (this.pending === 0 || this.closed) fn();
    else this.afterPending.push(fn);
  }

  private settle(): void {
    for (const f of this.afterPending.splice(0)) f();
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Resolves when every write has been taken (or the stream is gone). */
  idle(): Promise<void> {
    return this.pending === 0 || this.closed ? Promise.resolve() : new Promise((r) => this.idleWaiters.push(r));
  }

  drained(): Promise<void> {
    if (this.closed || !this.out.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.out.off('drain', done);
        this.out.off('close', done);
        resolve();
      };
      this.out.on('drain', done);
      this.out.on('close', done);
    });
  }
}
