// logexec: run a command with its stdout and stderr handed to memlogd, the way LinuxKit init
// starts a container: a channel per stream (a pipe, or init's socketpair or FIFO, see
// handoff-modes.ts), read side sent to the logging socket as `NAME.out` (stdout) and `NAME`
// (stderr). Output is also echoed to our own stdout/stderr.

import { spawn } from 'node:child_process';
import type net from 'node:net';
import { constants } from 'node:os';
import type { Writable } from 'node:stream';
import { STDOUT_SUFFIX } from '../protocol/constants.js';
import { type HandoffMode, type LogSink, openSink } from './handoff-modes.js';

export interface LogexecOptions {
  name: string;
  socket: string;
  command: string;
  args: string[];
  /** How the read sides reach memlogd (default pipe). */
  mode?: HandoffMode;
  /** Where fifo mode creates its FIFOs (default /var/run, as init). */
  fifoDir?: string;
  /** Where warnings go (default: process.stderr). */
  warn?: (msg: string) => void;
}

const osSignals = constants.signals as Record<string, number>;

/** Most bytes held for memlogd while its pipe is full, before dropping (producer never waits). */
const MAX_BUFFERED = 4 * 1024 * 1024;

/** Runs the command; resolves with the exit status to use (128 + signal number if killed). */
export async function logexec(o: LogexecOptions): Promise<number> {
  const warn = o.warn ?? ((m: string) => process.stderr.write(`logexec: ${m}\n`));
  const opened: LogSink[] = [];
  try {
    for (const name of [o.name + STDOUT_SUFFIX, o.name]) opened.push(openSink(o.mode ?? 'pipe', o.socket, name, o.fifoDir));
  } catch (err) {
    for (const s of opened.splice(0)) {
      s.stream.destroy();
      s.cleanup();
    }
    warn(`${(err as Error).message}; running without memlogd (output is only echoed)`);
  }
  const sinks: Array<net.Socket | null> = [opened[0]?.stream ?? null, opened[1]?.stream ?? null];
  for (const s of sinks) s?.on('error', (err) => warn(`memlogd pipe: ${err.message}`));

  const child = spawn(o.command, o.args, { stdio: ['inherit', 'pipe', 'pipe'] });
  const forward = (sig: NodeJS.Signals) => child.kill(sig);
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, forward);

  let dropped = 0;
  const tee = (from: NodeJS.ReadableStream, echo: Writable, sink: net.Socket | null) => {
    from.on('data', (chunk: Buffer) => {
      if (sink) {
        if (sink.writableLength < MAX_BUFFERED) sink.write(chunk);
        else dropped += chunk.length;
      }
      if (!echo.write(chunk)) {
        from.pause();
        echo.once('drain', () => from.resume());
      }
    });
  };
  echoErrorsIgnored(process.stdout);
  echoErrorsIgnored(process.stderr);
  tee(child.stdout!, process.stdout, sinks[0]);
  tee(child.stderr!, process.stderr, sinks[1]);

  const status = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      resolve(code ?? 128 + (signal ? (osSignals[signal] ?? 1) : 1));
    });
  }).finally(() => {
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.off(sig, forward);
  });
  if (dropped > 0) warn(`memlogd was not reading; ${dropped} bytes were echoed but not logged`);
  await Promise.all(sinks.map((s) => s && new Promise<void>((res) => s.end(() => res()))));
  for (const s of opened) s.cleanup();
  return status;
}

/** Echo targets that went away (a closed terminal) must not kill the command's logging. */
function echoErrorsIgnored(w: Writable): void {
  w.on('error', () => {});
}
