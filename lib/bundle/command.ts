// Running a command for the bundle (`df -h`, `ip addr show`): its output next to the command line
// that made it, as Docker Desktop's gather writes it. The command gets its own process group, so
// at its time limit it is killed with everything it started (a `df` stuck on a dead NFS mount is
// the classic case), and its output is capped.

import { spawn } from 'node:child_process';
import { commandLine } from './manifest.js';
import { Skip } from './task.js';

/** The most output kept from one command (ps/ip/df output of a small VM is a few KiB). */
const MAX_OUTPUT = 4 * 1024 * 1024;

export interface CommandResult {
  /** `$ <command line>`, the standard output, and the standard error after a marker line. */
  text: Buffer;
  exitCode: number | null;
  signal: string | null;
  truncated: boolean;
}

/** Runs argv (no shell) until it exits or signal aborts; Skip when the command is not installed. */
export function runCommand(argv: readonly string[], signal: AbortSignal): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, killed as a whole
      env: { ...process.env, LC_ALL: 'C' }, // the same output whatever the locale
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let bytes = 0;
    let truncated = false;
    const kill = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const take = (into: Buffer[]) => (d: Buffer) => {
      if (truncated) return;
      if (bytes + d.length > MAX_OUTPUT) {
        into.push(d.subarray(0, MAX_OUTPUT - bytes));
        truncated = true;
        kill();
        return;
      }
      bytes += d.length;
      into.push(d);
    };
    child.stdout!.on('data', take(out));
    child.stderr!.on('data', take(err));
    signal.addEventListener('abort', kill, { once: true });
    child.once('error', (e: NodeJS.ErrnoException) => {
      signal.removeEventListener('abort', kill);
      reject(e.code === 'ENOENT' ? new Skip(`command not found: ${argv[0]}`) : e);
    });
    child.once('close', (code, sig) => {
      signal.removeEventListener('abort', kill);
      const parts = [Buffer.from(`$ ${commandLine(argv)}\n`), ...out];
      if (err.length) parts.push(Buffer.from('\n--- stderr ---\n'), ...err);
      resolve({ text: Buffer.concat(parts), exitCode: code, signal: sig, truncated });
    });
  });
}
