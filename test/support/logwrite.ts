// Integration helpers for logwrite: the built binary on a temp log directory, reading the files
// back in order (gunzipping rotated copies), long-lived pipes into memlogd.

import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { handOffPipe } from '../../lib/client/handoff.js';
import { fileBase, parseFileName } from '../../lib/logwrite/names.js';
import * as native from '../../lib/native/index.js';
import { procStat } from '../../bench/proc.js';
import { startBin, waitFor, type RunningBin } from './helpers.js';

export type RunningLogwrite = RunningBin;

/** Starts dist/cmd/logwrite.js with these arguments. */
export function startLogwrite(args: string[]): RunningLogwrite {
  return startBin('logwrite', args);
}

/** The files of one source, oldest first: `.log.N(.gz)` ... `.log.0(.gz)`, then `.log`. */
export function filesOf(dir: string, source: string): string[] {
  const base = fileBase(source);
  const mine = fs.readdirSync(dir).map((n) => ({ n, p: parseFileName(n) })).filter((x) => x.p?.base === base);
  mine.sort((a, b) => (b.p!.index === -1 ? -1 : b.p!.index) - (a.p!.index === -1 ? -1 : a.p!.index));
  return mine.map((x) => x.n);
}

export function readLogFile(dir: string, name: string): string {
  const data = fs.readFileSync(path.join(dir, name));
  return name.endsWith('.gz') ? zlib.gunzipSync(data).toString('utf8') : data.toString('utf8');
}

/** Every line written for a source, in order (times kept). Retries when a rotation moved a file. */
export function linesOf(dir: string, source: string): string[] {
  for (let attempt = 0; ; attempt++) {
    try {
      return filesOf(dir, source).flatMap((n) => readLogFile(dir, n).split('\n').slice(0, -1));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 50) throw err;
    }
  }
}

/** Message part of a text line: `<time> <source> <msg>`. */
export function msgOf(line: string, source: string): string {
  const prefix = line.indexOf(' ') + 1;
  if (line.slice(prefix, prefix + source.length + 1) !== `${source} `) throw new Error(`not a line of ${source}: ${line}`);
  return line.slice(prefix + source.length + 1);
}

/** A pipe whose read end memlogd holds under name; write to it over time, then close it. */
export class Feed {
  private readonly w: number;
  constructor(logSock: string, name: string | Buffer) {
    this.w = handOffPipe(logSock, name);
  }
  write(data: string | Buffer): void {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let o = 0;
    while (o < buf.length) o += fs.writeSync(this.w, buf, o, buf.length - o);
  }
  close(): void {
    native.close(this.w);
  }
}

/** User + system CPU seconds a process used so far. */
export function cpuSeconds(pid: number): number {
  return procStat(pid).cpuSec;
}

export { fdCount } from '../../bench/proc.js';

export { sleep, waitStderr } from './helpers.js';

/** Total bytes of the files logwrite manages in dir (not the state file). */
export function dirBytes(dir: string): number {
  return fs.readdirSync(dir).filter((n) => parseFileName(n)).reduce((s, n) => s + fs.statSync(path.join(dir, n)).size, 0);
}

export { useCleanups } from './cleanup.js';
