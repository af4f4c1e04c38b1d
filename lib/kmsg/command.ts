// kmsg as a command: where its lines go (stderr, the LinuxKit way, or its own pipe handed to
// memlogd as source `kmsg`), and keeping at it: when memlogd goes away, kmsg hands a new pipe
// over once it is back and goes on from the last record it delivered.

import type net from 'node:net';
import { Backoff, sleep } from '../client/backoff.js';
import { openLogStream } from '../client/handoff.js';
import { KMSG_PATH } from './device.js';
import { Relay, type Replay } from './relay.js';

/** The source name kmsg's lines have in memlogd (LinuxKit's kmsg service is named kmsg too). */
export const KMSG_SOURCE = 'kmsg';

export interface KmsgOptions {
  device?: string;
  file?: string;
  state: string | null;
  replay: Replay;
  dict: boolean;
  /** Start lines with `<N>`, their priority (memlogd keeps it as the entry's severity). */
  levelPrefix: boolean;
  /** memlogd's logging socket: hand our own pipe over as source kmsg (else stderr). */
  socket?: string;
  signal?: AbortSignal;
}

function notice(m: string): void {
  process.stderr.write(`kmsg: ${m}\n`);
}

/** Writes into a stream, resolving once it took the bytes. */
function writeTo(s: net.Socket | NodeJS.WriteStream) {
  return (text: string) => new Promise<void>((resolve, reject) => {
    s.write(text, (err) => (err ? reject(err) : resolve()));
  });
}

/** Runs until the signal aborts (or, with file, to the end of the recording). */
export async function kmsg(o: KmsgOptions): Promise<void> {
  if (o.socket === undefined) {
    const relay = new Relay({ state: o.state, replay: o.replay, dict: o.dict, prefix: o.levelPrefix, write: writeTo(process.stderr), notice });
    if (o.file !== undefined) return relay.runFile(o.file);
    return relay.runDevice(o.device ?? KMSG_PATH, o.signal);
  }
  const socket = o.socket;
  let out: net.Socket | null = null;
  const relay = new Relay({
    state: o.state, replay: o.replay, dict: o.dict, prefix: o.levelPrefix, notice,
    write: (text) => (out ? writeTo(out)(text) : Promise.reject(new Error('no pipe to memlogd'))),
  });
  const backoff = new Backoff(100, 5000);
  let waiting = false;
  try {
    while (!o.signal?.aborted) {
      try {
        out = openLogStream(socket, KMSG_SOURCE);
        out.on('error', () => {}); // a failed write rejects its promise; that is where it is handled
      } catch (err) {
        if (!waiting) notice(`cannot hand a pipe to memlogd at ${socket}: ${(err as Error).message}; retrying`);
        waiting = true;
        await sleep(backoff.next(), o.signal);
        continue;
      }
      if (waiting) notice(`relaying into memlogd at ${socket} again`);
      waiting = false;
      backoff.reset();
      try {
        if (o.file !== undefined) return await relay.runFile(o.file);
        await relay.runDevice(o.device ?? KMSG_PATH, o.signal);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
        notice('memlogd went away; will hand a new pipe over when it is back');
        waiting = true;
        out.destroy();
        out = null;
        relay.resume();
        await sleep(backoff.next(), o.signal);
      }
    }
  } finally {
    if (out) await new Promise<void>((r) => out!.end(() => r()));
  }
}
