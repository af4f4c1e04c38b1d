// Every process with its command line and its count of open fds, from /proc (busybox `ps` in a
// LinuxKit VM shows neither). A process that exits while it is read is left out; fds of a process
// we may not look into show as `-`. Command lines are masked with the rest of the text.

import fs from 'node:fs/promises';
import { table } from '../logread/format.js';

interface Proc {
  pid: number;
  ppid: number;
  uid: number | undefined;
  state: string;
  threads: number;
  rssKiB: number | undefined;
  fds: number | undefined;
  command: string;
}

/** Control characters of an argument written as \xNN, so one process stays one line. */
function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'));
}

async function readProc(pid: number): Promise<Proc | null> {
  const dir = `/proc/${pid}`;
  const [stat, status, cmdline, fds] = await Promise.all([
    fs.readFile(`${dir}/stat`, 'utf8').catch(() => null),
    fs.readFile(`${dir}/status`, 'utf8').catch(() => ''),
    fs.readFile(`${dir}/cmdline`).catch(() => Buffer.alloc(0)),
    fs.readdir(`${dir}/fd`).then((l) => l.length, () => undefined),
  ]);
  if (stat === null) return null; // exited
  // proc(5): "pid (comm) state ppid ..."; comm may hold spaces and parentheses, so split at the last ")"
  const close = stat.lastIndexOf(')');
  const comm = stat.slice(stat.indexOf('(') + 1, close);
  const f = stat.slice(close + 2).split(' ');
  const field = (name: string) => new RegExp(`^${name}:\\s*(\\d+)`, 'm').exec(status)?.[1];
  const args = cmdline.toString('utf8').split('\0');
  if (args.at(-1) === '') args.pop();
  const uid = field('Uid');
  const rss = field('VmRSS');
  return {
    pid, ppid: Number(f[1]), uid: uid !== undefined ? Number(uid) : undefined, state: f[0] ?? '?',
    threads: Number(f[17]), rssKiB: rss !== undefined ? Number(rss) : undefined, fds,
    command: args.length ? printable(args.join(' ')) : `[${printable(comm)}]`,
  };
}

/** The process table as text: one line per process, and the total of open fds. */
export async function processTable(signal: AbortSignal): Promise<string> {
  const pids = (await fs.readdir('/proc')).filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
  const procs: Proc[] = [];
  for (const pid of pids) {
    if (signal.aborted) break;
    const p = await readProc(pid);
    if (p) procs.push(p);
  }
  const rows = procs.map((p) => [p.pid, p.ppid, p.uid, p.state, p.threads, p.rssKiB, p.fds, p.command]);
  const known = procs.filter((p) => p.fds !== undefined);
  const total = known.reduce((s, p) => s + p.fds!, 0);
  return table(['PID', 'PPID', 'UID', 'STATE', 'THREADS', 'RSS KIB', 'FDS', 'COMMAND'], rows, 'rrrlrrrl') +
    `\n\n${procs.length} processes, ${total} open fds (in ${known.length} processes whose fds could be counted)\n`;
}
