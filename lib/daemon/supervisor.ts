// The supervisor of a background memlogd (-daemonize): after a crash, nothing is lost that was
// written after it. The supervisor is a small parent that holds the listening sockets and a
// duplicate of every source fd (the serving memlogd passes each one up as it takes it, and says
// when it is done with it), restarts memlogd when it dies, and hands everything back: writers keep
// their pipes (never EPIPE), and what they wrote meanwhile is read by the new memlogd. If memlogd
// is not back within OUTAGE_MS, the supervisor reads the held pipes itself so no writer blocks
// forever, and the new memlogd reports what was lost. What the dead memlogd held in memory is
// gone: readers get a `restarted` gap. (s6-fdholderd's idea, built in; journald relies on
// systemd's fd store for the same.)
//
// Control channel: a SOCK_SEQPACKET socketpair per serving process (handover.ts messages):
//   memlogd -> supervisor: serving {pid}; hold {id, name, kind} + fd; release {id}; stopping
//   supervisor -> memlogd: adopt {inputs: [{id, name, kind}], lost} + fds (after a crash)
// A graceful restart (restart.ts) hands the channel itself to the successor, so the supervisor
// keeps talking to whoever serves.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import * as native from '../native/index.js';
import { retryDelay } from '../client/backoff.js';
import { CHILD_ENV, inheritedNodeArgs } from './child.js';
import { CONTROL_SEND_MS, MAX_FDS_PER_MESSAGE, Receiver, Sender, type Message } from './handover.js';
import type { ServeOptions } from './serve.js';

/** After a crash, how long writers may wait for memlogd before the supervisor drains their pipes (--outage-ms). */
export const OUTAGE_MS = 5000;

interface Held {
  fd: number;
  /** Source name (base64: any bytes). */
  name: string;
  kind: 'file' | 'stream';
  /** While draining: its poll, and what was read and thrown away. */
  poll?: native.PollHandle | null;
  lines: number;
  bytes: number;
}

export interface SupervisorOptions extends ServeOptions {
  fdLog: number;
  fdQuery: number;
  /** The entry script, run as the serving memlogd. */
  script: string;
  /** argv for `ps` (which sockets this memlogd serves). */
  psArgs: string[];
  /** See OUTAGE_MS. */
  outageMs?: number;
}

/** How a serving memlogd is started (startServing). */
export interface ServingStart {
  /** The entry script, and the argv after it (for `ps` only). */
  script: string;
  psArgs: string[];
  nodeArgs: string[];
  /** The daemon's options; what only the supervisor or -daemonize's parent uses is left out. */
  options: SupervisorOptions | ServeOptions;
  fdLog: number;
  fdQuery: number;
  fdSyslog?: number;
  /** The serving process's end of its channel to the supervisor. */
  channel: number;
  afterCrash: boolean;
  /** In a session of its own (-daemonize's first one, whose parent exits at once). */
  detached: boolean;
}

/**
 * Starts a serving memlogd under a supervisor: fds 3, 4, 5 (and 6) in the child are the logging
 * socket, the query socket, the channel (and the syslog socket); its options go by environment.
 * The one place that knows the layout, for the supervisor's restarts and -daemonize's first start.
 */
export function startServing(s: ServingStart): ChildProcess {
  const { script: _sc, psArgs: _p, supervise: _s, readyFd: _r, outageMs: _o, channelFd: _c, ...rest } = s.options as SupervisorOptions;
  const options: ServeOptions = { ...rest, fdLog: 3, fdQuery: 4, supervisorFd: 5, fdSyslog: s.fdSyslog !== undefined ? 6 : undefined, afterCrash: s.afterCrash };
  return spawn(process.execPath, [...s.nodeArgs, s.script, ...s.psArgs], {
    stdio: ['ignore', 'ignore', 'ignore', s.fdLog, s.fdQuery, s.channel, ...(s.fdSyslog !== undefined ? [s.fdSyslog] : [])],
    detached: s.detached,
    env: { ...process.env, [CHILD_ENV]: JSON.stringify(options) },
  });
}

export class Supervisor {
  private readonly held = new Map<number, Held>();
  private channel = -1;
  private receiver: Receiver | null = null;
  private child: ChildProcess | null = null;
  private servingPid = 0;
  private stopping = false;
  private crashes = 0;
  private drainTimer: NodeJS.Timeout | null = null;
  private draining = false;
  private readonly drainBuf = Buffer.allocUnsafe(64 * 1024);
  private readyFd: number | undefined;
  /** Draining the syslog socket: its poll, and the messages and bytes thrown away. */
  private syslogDrain: { poll: native.PollHandle | null; lines: number; bytes: number } = { poll: null, lines: 0, bytes: 0 };

  constructor(private readonly o: SupervisorOptions) {
    this.readyFd = o.readyFd;
  }

  /** Runs until memlogd is stopped (SIGTERM to either). */
  async run(): Promise<void> {
    process.on('SIGHUP', () => {});
    const stop = () => this.stop();
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    // a graceful restart is the serving process's business: pass the signal on
    process.on('SIGUSR2', () => this.servingPid && process.kill(this.servingPid, 'SIGUSR2'));
    if (this.o.channelFd !== undefined) this.adoptChannel(this.o.channelFd);
    else this.start(false);
    await this.loop();
  }

  /** Talks to the serving memlogd on this end of its channel. */
  private adoptChannel(fd: number): void {
    this.channel = fd;
    this.receiver = new Receiver(fd);
  }

  private start(afterCrash: boolean): void {
    const [mine, theirs] = native.socketpair(native.SOCK_SEQPACKET);
    const { script, psArgs, fdLog, fdQuery, fdSyslog } = this.o;
    // node's flags are the supervisor's own (BACKGROUND_NODE_ARGS)
    this.child = startServing({ script, psArgs, nodeArgs: inheritedNodeArgs(), options: this.o, fdLog, fdQuery, fdSyslog, channel: theirs, afterCrash, detached: false });
    this.child.on('error', () => {}); // a failed spawn shows as the channel's end
    native.close(theirs);
    this.adoptChannel(mine);
  }

  /** Serves control messages; a channel that ends without `stopping` is a crash. */
  private async loop(): Promise<void> {
    for (;;) {
      const m = await this.receiver!.next();
      if (m) {
        this.message(m);
        continue;
      }
      this.receiver!.stop();
      native.close(this.channel);
      this.channel = -1;
      if (this.stopping) break;
      // the serving memlogd is gone without saying so: a crash
      this.crashes++;
      if (!this.drainTimer && !this.draining) this.drainTimer = setTimeout(() => this.startDraining(), this.o.outageMs ?? OUTAGE_MS);
      await new Promise((r) => setTimeout(r, retryDelay(this.crashes - 1, 50, 5000)));
      if (this.stopping) break;
      this.start(true);
    }
    this.shutdown();
  }

  private message(m: Message): void {
    switch (m.header.type) {
      case 'serving':
        this.servingPid = Number(m.header.pid);
        if (this.readyFd !== undefined) {
          fs.writeSync(this.readyFd, 'ready\n');
          fs.closeSync(this.readyFd);
          this.readyFd = undefined;
        }
        if (m.header.afterCrash) this.giveBack();
        else this.crashes = 0;
        break;
      case 'hold': {
        const [fd] = m.fds;
        if (fd === undefined) break;
        this.held.set(Number(m.header.id), { fd, name: String(m.header.name), kind: m.header.kind === 'file' ? 'file' : 'stream', lines: 0, bytes: 0 });
        break;
      }
      case 'release': {
        const h = this.held.get(Number(m.header.id));
        if (h) {
          this.stopDrainOne(h);
          native.close(h.fd);
          this.held.delete(Number(m.header.id));
        }
        for (const fd of m.fds) native.close(fd);
        break;
      }
      case 'stopping':
        this.stopping = true;
        break;
      default:
        for (const fd of m.fds) native.close(fd);
    }
  }

  /** After a crash: every held fd back to the new memlogd, with what was drained meanwhile. */
  private giveBack(): void {
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = null;
    for (const h of this.held.values()) this.stopDrainOne(h);
    this.stopDrainSyslog();
    this.draining = false;
    const s = new Sender(this.channel, Date.now() + CONTROL_SEND_MS);
    const all = [...this.held.entries()];
    const lost: Record<string, { lines: number; bytes: number }> = {};
    for (const [, h] of all) {
      if (h.bytes === 0) continue;
      const l = (lost[h.name] ??= { lines: 0, bytes: 0 });
      l.lines += h.lines;
      l.bytes += h.bytes;
      h.lines = h.bytes = 0;
    }
    if (this.syslogDrain.lines > 0) {
      lost[Buffer.from('syslog socket').toString('base64')] = { lines: this.syslogDrain.lines, bytes: this.syslogDrain.bytes };
      this.syslogDrain.lines = this.syslogDrain.bytes = 0;
    }
    try {
      for (let i = 0; i < all.length || i === 0; i += MAX_FDS_PER_MESSAGE) {
        const part = all.slice(i, i + MAX_FDS_PER_MESSAGE);
        s.send({
          type: 'adopt', crashes: this.crashes, lost: i === 0 ? lost : {},
          inputs: part.map(([id, h]) => ({ id, name: h.name, kind: h.kind })),
        }, undefined, part.map(([, h]) => h.fd));
      }
    } catch {
      // the new memlogd died at once: the channel's end says so, and the next one gets them
    }
  }

  /** memlogd is not back in time: read the held pipes so no writer blocks, counting what is lost. */
  private startDraining(): void {
    this.drainTimer = null;
    this.draining = true;
    for (const h of this.held.values()) {
      if (h.kind !== 'stream') continue;
      try {
        native.setNonBlocking(h.fd, true);
        h.poll = native.pollStart(h.fd, native.POLL_READABLE, () => this.drainOne(h));
      } catch {
        // not pollable any more: nothing to drain
      }
    }
    // syslog(3) blocks its caller once the socket's queue is full (net.unix.max_dgram_qlen)
    const fd = this.o.fdSyslog;
    if (fd !== undefined) {
      native.setNonBlocking(fd, true);
      this.syslogDrain.poll = native.pollStart(fd, native.POLL_READABLE, () => {
        for (;;) {
          let r: native.RecvResult | null;
          try {
            r = native.recvmsg(fd, this.drainBuf);
          } catch {
            r = null;
          }
          if (r === null) return;
          for (const x of r.fds) native.close(x);
          this.syslogDrain.lines++;
          this.syslogDrain.bytes += r.fullLength;
        }
      });
    }
  }

  private stopDrainSyslog(): void {
    if (this.syslogDrain.poll) native.pollStop(this.syslogDrain.poll);
    this.syslogDrain.poll = null;
  }

  private drainOne(h: Held): void {
    for (;;) {
      let n: number | null;
      try {
        n = native.read(h.fd, this.drainBuf);
      } catch {
        n = 0;
      }
      if (n === null) return;
      if (n === 0) return this.stopDrainOne(h); // the writer closed it: memlogd closes it too
      h.bytes += n;
      for (let i = this.drainBuf.indexOf(10); i >= 0 && i < n; i = this.drainBuf.indexOf(10, i + 1)) h.lines++;
    }
  }

  private stopDrainOne(h: Held): void {
    if (h.poll) native.pollStop(h.poll);
    h.poll = null;
  }

  private stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    if (this.servingPid) {
      try {
        process.kill(this.servingPid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    if (this.channel < 0) this.shutdown();
  }

  private shutdown(): void {
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.stopDrainSyslog();
    for (const h of this.held.values()) {
      this.stopDrainOne(h);
      native.close(h.fd);
    }
    this.held.clear();
    for (const fd of [this.o.fdLog, this.o.fdQuery, ...(this.o.fdSyslog !== undefined ? [this.o.fdSyslog] : [])]) {
      try {
        native.close(fd);
      } catch { /* closed */ }
    }
    process.exit(0);
  }
}
