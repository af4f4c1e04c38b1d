// The implementations the bench measures side by side: ours (dist/cmd/*.js, or another build
// through BENCH_MEMLOGD) and, given --reference DIR, LinuxKit's Go binaries (static builds in
// ../shared/reference/bin). Starting a daemon, knowing when it accepts, stopping it.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as native from '../lib/native/index.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '../..');
/** The reference binaries, when the folder exists (tests and bench skip them otherwise). */
export const DEFAULT_REFERENCE = path.resolve(ROOT, '../shared/reference/bin');

export type Impl = 'ours' | 'reference';

export interface Binaries {
  impl: Impl;
  /** argv prefix for each binary: [node, script] for ours, [path] for the reference. */
  memlogd: string[];
  logread: string[];
  logwrite: string[];
}

export function ours(memlogdScript = process.env.BENCH_MEMLOGD ?? path.join(ROOT, 'dist/cmd/memlogd.js')): Binaries {
  const cmd = (name: string) => [process.execPath, path.join(ROOT, 'dist/cmd', `${name}.js`)];
  return { impl: 'ours', memlogd: [process.execPath, memlogdScript], logread: cmd('logread'), logwrite: cmd('logwrite') };
}

export function reference(dir: string): Binaries | null {
  if (!fs.existsSync(path.join(dir, 'memlogd'))) return null;
  return { impl: 'reference', memlogd: [path.join(dir, 'memlogd')], logread: [path.join(dir, 'logread')], logwrite: [path.join(dir, 'logwrite')] };
}

/** Does the socket at path accept a connection now? */
export function accepts(sock: string): boolean {
  const fd = native.socketStream();
  try {
    native.connect(fd, sock);
    return true;
  } catch {
    return false;
  } finally {
    native.close(fd);
  }
}

export async function until(ok: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export interface Daemon {
  proc: ChildProcess;
  log: string;
  query: string;
  stop(): Promise<void>;
}

/**
 * Starts a memlogd on sockets in dir and resolves once its query socket accepts. The reference
 * echoes every entry to its stdout synchronously: that goes to /dev/null, as in a VM.
 */
export async function startDaemon(b: Binaries, dir: string, flags: string[] = [], nodeArgs: string[] = []): Promise<Daemon> {
  const log = path.join(dir, `${b.impl}-log.sock`);
  const query = path.join(dir, `${b.impl}-q.sock`);
  for (const f of [log, query]) fs.rmSync(f, { force: true }); // the reference leaves them behind
  const [cmd, ...pre] = b.memlogd;
  const args = b.impl === 'ours' ? [...nodeArgs, ...pre] : pre;
  const proc = track(spawn(cmd, [...args, '-socket-log', log, '-socket-query', query, ...flags], { stdio: ['ignore', 'ignore', 'ignore'] }));
  await until(() => proc.exitCode !== null || accepts(query), `${b.impl} memlogd to accept`);
  if (proc.exitCode !== null) throw new Error(`${b.impl} memlogd exited ${proc.exitCode}`);
  return {
    proc, log, query,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      if (proc.exitCode === null && proc.signalCode === null) await new Promise((r) => proc.once('exit', r));
      for (const f of [log, query]) fs.rmSync(f, { force: true });
    },
  };
}

const live = new Set<ChildProcess>();

/**
 * A daemon the bench started, stopped with it: an interrupted bench (Ctrl-C, a timeout's
 * SIGTERM) leaves no memlogd behind.
 */
export function track(p: ChildProcess): ChildProcess {
  live.add(p);
  p.once('exit', () => live.delete(p));
  if (live.size === 1 && process.listenerCount('SIGTERM') === 0) {
    for (const [sig, n] of [['SIGINT', 2], ['SIGTERM', 15]] as const) {
      process.once(sig, () => {
        for (const c of live) c.kill('SIGTERM');
        process.exit(128 + n);
      });
    }
  }
  return p;
}

/**
 * Pids of running processes whose command line is argv's binary with argv's other words: taken
 * before and after a `-daemonize` start, the difference is what it left running (the reference's
 * child has only `-fd-log 3 -fd-query 4` on its command line, no socket path to find it by).
 */
export function processesOf(argv: string[]): Set<number> {
  const out = new Set<number>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let cmd: string[];
    try {
      cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'latin1').split('\0');
    } catch {
      continue;
    }
    // the binary first, then the script anywhere (node flags may come before it)
    if (cmd[0] === argv[0] && argv.every((a) => cmd.includes(a))) out.add(Number(d));
  }
  return out;
}

/** The reference's memlogd has no --max-bytes; ours keeps 8 MiB unless told. */
export function bigStore(b: Binaries, lines: number): string[] {
  return b.impl === 'ours' ? ['-max-lines', String(lines), '--max-bytes', String(lines * 400)] : ['-max-lines', String(lines)];
}
