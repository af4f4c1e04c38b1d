// The one cleanup idiom of the tests: call useCleanups() once per file, at top level; whatever a
// test registers (a daemon to stop, a temp dir, fds, anything) is released after it, in reverse
// order, even when the test fails.

import fs from 'node:fs';
import { afterEach } from 'vitest';
import * as native from '../../lib/native/index.js';

/** A short temp dir: sun_path holds 108 bytes. */
export function shortTmp(): string {
  return fs.mkdtempSync('/tmp/ml-');
}

/** Tracks fds a test opened so they are closed even when it fails. */
export class Fds {
  private fds = new Set<number>();
  add<T extends number | number[]>(fd: T): T {
    for (const f of Array.isArray(fd) ? fd : [fd]) this.fds.add(f);
    return fd;
  }
  close(fd: number): void {
    this.fds.delete(fd);
    native.close(fd);
  }
  closeAll(): void {
    for (const fd of this.fds) native.raw.close(fd);
    this.fds.clear();
  }
}

export interface Cleanups {
  /** Stops x (a daemon, a logwrite, a server) after the test. */
  track: <T extends { stop: () => Promise<unknown> | unknown }>(x: T) => T;
  /** A new short temp dir, removed after the test. */
  tmpDir: () => string;
  /** Runs fn after the test. */
  defer: (fn: () => Promise<unknown> | unknown) => void;
  /** Fds closed after the test. */
  fds: Fds;
}

export function useCleanups(): Cleanups {
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  const fds = new Fds();
  afterEach(async () => {
    fds.closeAll();
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return {
    fds,
    defer: (fn) => void cleanups.push(fn),
    track: (x) => {
      cleanups.push(() => x.stop());
      return x;
    },
    tmpDir: () => {
      const dir = shortTmp();
      cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
      return dir;
    },
  };
}
