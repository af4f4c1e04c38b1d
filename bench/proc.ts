// What the bench reads about a process it started: CPU time and peak RSS from /proc, and the
// moment a line appears on its stderr.

import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';

/** USER_HZ on Linux: the unit of utime/stime in /proc/PID/stat. */
const TICKS_PER_SEC = 100;

export interface ProcStat {
  userSec: number;
  sysSec: number;
  cpuSec: number;
  /** Peak resident set (VmHWM), MiB. */
  peakRssMB: number;
  /** Resident set now (VmRSS), MiB. */
  rssMB: number;
}

/** Open fds of a process now. */
export function fdCount(pid: number | 'self'): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

export function procStat(pid: number): ProcStat {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // after the command name
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const hwm = /VmHWM:\s+(\d+)/.exec(status);
  const rss = /VmRSS:\s+(\d+)/.exec(status);
  const userSec = Number(f[11]) / TICKS_PER_SEC;
  const sysSec = Number(f[12]) / TICKS_PER_SEC;
  return { userSec, sysSec, cpuSec: userSec + sysSec, peakRssMB: Number(hwm?.[1] ?? 0) / 1024, rssMB: Number(rss?.[1] ?? 0) / 1024 };
}

/** Resolves once text appears on p's stderr; rejects if p exits first. */
export function waitStderr(p: ChildProcess, text: string): Promise<void> {
  let err = '';
  return new Promise((resolve, reject) => {
    p.stderr!.on('data', (d) => {
      err += d;
      if (err.includes(text)) resolve();
    });
    p.once('exit', (c) => reject(new Error(`exited ${c}: ${err}`)));
  });
}
