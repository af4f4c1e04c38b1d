// Graceful restart and upgrade (SIGUSR2, nginx's signal for a binary upgrade; or `memlogd
// --restart`): the serving memlogd starts its successor (this same entry script: after files
// were replaced in place, the new version) and hands it everything over a SOCK_SEQPACKET
// socketpair (handover.ts) with SCM_RIGHTS:
//   1. the state: options, identity (the instance id stays: cursors remain valid), sources;
//   2. the store: its index arrays and arena, so no entry and no sequence number changes;
//   3. the logging and query sockets, every source fd with its unfinished line, every connected
//      reader's socket with its position, pending bytes and request.
// Meanwhile everything is frozen (no read, no write): data waits in the kernel, nothing is lost
// or read twice. The old process exits only once the successor says it serves; if it fails, the
// old one thaws and keeps serving, and says why under source memlogd. A v1 follower's byte stream
// simply continues: it cannot tell.

import { spawn, type ChildProcess } from 'node:child_process';
import * as native from '../native/index.js';
import { inheritedNodeArgs, TAKEOVER_ENV } from './child.js';
import { Daemon, type DaemonHandoverState, type HandedOver } from './daemon.js';
import { MAX_FDS_PER_MESSAGE, Receiver, Sender, type Message } from './handover.js';
import { Store } from './store.js';

/** How long the hand-over may take before the old memlogd gives up and serves on. */
const HANDOVER_TIMEOUT_MS = 20_000;

/**
 * Starts a successor of d and hands it everything. Resolves true once the successor serves (d has
 * let go of everything: exit now), false when it failed (d serves on; the reason is logged).
 */
export async function handOver(d: Daemon, script: string): Promise<boolean> {
  const [mine, theirs] = native.socketpair(native.SOCK_SEQPACKET);
  let child: ChildProcess | null = null;
  let receiver: Receiver | null = null;
  let frozen = false;
  try {
    // the same node flags and arguments as this process
    child = spawn(process.execPath, [...inheritedNodeArgs(), script, ...process.argv.slice(2)], {
      // fd 3: the channel; stdout/stderr where ours go (a foreground memlogd's terminal, or nowhere)
      stdio: ['ignore', 'inherit', 'inherit', theirs],
      detached: true,
      env: { ...process.env, [TAKEOVER_ENV]: '3' },
    });
    child.unref();
    native.close(theirs);
    const exited = new Promise<string>((resolve) => child!.once('exit', (code, sig) => resolve(`it exited (${sig ?? code})`)));
    receiver = new Receiver(mine);
    // the successor starts up while we serve; it says hello once it can take over
    const hello = await Promise.race([receiver.next(), exited, timeout()]);
    if (!isMessage(hello) || hello.header.type !== 'hello') throw new Error(`the successor did not start: ${describe(hello)}`);
    d.freeze();
    frozen = true;
    const { state, blobs, handed } = d.exportState();
    send(new Sender(mine, Date.now() + HANDOVER_TIMEOUT_MS), state, blobs, handed);
    const answer = await Promise.race([receiver.next(), exited, timeout()]);
    if (!isMessage(answer) || answer.header.type !== 'serving') throw new Error(`the successor did not take over: ${describe(answer)}`);
    d.handedOver();
    return true;
  } catch (err) {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    if (frozen) d.thaw();
    d.log(`graceful restart failed, still serving as pid ${process.pid}: ${(err as Error).message}`);
    return false;
  } finally {
    receiver?.stop();
    native.close(mine);
  }
}

function isMessage(x: unknown): x is Message {
  return typeof x === 'object' && x !== null && 'header' in x;
}

function describe(x: unknown): string {
  if (x === null) return 'it closed the channel';
  if (typeof x === 'string') return x;
  if (isMessage(x)) return String(x.header.error ?? x.header.type);
  return 'no answer';
}

function timeout(): Promise<string> {
  return new Promise((resolve) => setTimeout(() => resolve(`no answer in ${HANDOVER_TIMEOUT_MS / 1000} s`), HANDOVER_TIMEOUT_MS).unref());
}

/**
 * The state, the store in pieces, then the fds in messages of at most MAX_FDS_PER_MESSAGE. The
 * JSON goes as a body in pieces too: it outgrows one datagram with a few hundred sources, a
 * reader's unsent batch (up to 64 KiB, base64 in its state) or many unfinished lines; in a
 * header, the restart failed ("handover message of N bytes"; the accounting workload's stalled
 * readers found it).
 */
function send(s: Sender, state: DaemonHandoverState, blobs: Buffer[], h: HandedOver): void {
  const json = (v: unknown) => Buffer.from(JSON.stringify(v));
  s.sendChunked({ type: 'state' }, json(state));
  blobs.forEach((b, i) => s.sendChunked({ type: 'blob', index: i }, b));
  s.send({ type: 'sockets' }, undefined, h.syslogFd !== undefined ? [h.logFd, h.queryFd, h.syslogFd] : [h.logFd, h.queryFd]);
  for (let i = 0; i < h.inputs.length; i += MAX_FDS_PER_MESSAGE) {
    const part = h.inputs.slice(i, i + MAX_FDS_PER_MESSAGE);
    s.sendChunked({ type: 'inputs' }, json(part.map((x) => ({ kind: x.kind, src: x.src, carry: x.carry.toString('base64'), holdId: x.holdId }))),
      part.map((x) => x.fd));
  }
  for (let i = 0; i < h.connections.length; i += MAX_FDS_PER_MESSAGE) {
    const part = h.connections.slice(i, i + MAX_FDS_PER_MESSAGE);
    s.sendChunked({ type: 'connections' }, json(part.map((x) => x.state)), part.map((x) => x.fd));
  }
  if (h.supervisor) s.send({ type: 'supervisor', nextId: h.supervisor.nextId }, undefined, [h.supervisor.fd]);
  s.send({ type: 'end' });
}

/** The successor's side: takes everything the predecessor sends on channel fd and serves it. */
export async function takeOver(fd: number): Promise<Daemon> {
  native.setCloexec(fd);
  const r = new Receiver(fd);
  const sender = () => new Sender(fd, Date.now() + HANDOVER_TIMEOUT_MS);
  try {
    sender().send({ type: 'hello', pid: process.pid });
    let state: DaemonHandoverState | null = null;
    const blobs: Buffer[] = [];
    const h: HandedOver = { logFd: -1, queryFd: -1, inputs: [], connections: [] };
    for (;;) {
      const m = await r.next();
      if (!m) throw new Error('the predecessor closed the channel during the hand-over');
      const t = m.header.type;
      // JSON in the header (a predecessor from before it went in pieces), else in the body
      const json = async <T>(inHeader: unknown): Promise<T> => (inHeader ?? JSON.parse((await r.chunked(m)).toString('utf8'))) as T;
      if (t === 'state') state = await json<DaemonHandoverState>(m.header.state);
      else if (t === 'blob') blobs[Number(m.header.index)] = await r.chunked(m);
      else if (t === 'sockets') [h.logFd, h.queryFd, h.syslogFd] = m.fds;
      else if (t === 'inputs') {
        (await json<Array<{ kind: 'file' | 'stream'; src: number; carry: string; holdId: number }>>(m.header.inputs)).forEach((x, i) => {
          h.inputs.push({ fd: m.fds[i], kind: x.kind, src: x.src, carry: Buffer.from(x.carry, 'base64'), holdId: x.holdId });
        });
      } else if (t === 'connections') {
        (await json<Array<HandedOver['connections'][number]['state']>>(m.header.connections)).forEach((state, i) => h.connections.push({ fd: m.fds[i], state }));
      } else if (t === 'supervisor') h.supervisor = { fd: m.fds[0], nextId: Number(m.header.nextId) };
      else if (t === 'end') break;
    }
    if (!state) throw new Error('the hand-over carried no state');
    const store = Store.restore(state.store, blobs);
    const d = Daemon.adopt(state.opts, { store, instance: state.instance, startedAt: state.startedAt, owners: state.owners, syslog: state.syslog }, h);
    sender().send({ type: 'serving', pid: process.pid });
    d.serving(); // the supervisor, if any, talks to this process now
    d.log(`memlogd restarted gracefully: pid ${process.pid} took over ${h.inputs.length} inputs and ${h.connections.length} readers, nothing lost`);
    return d;
  } catch (err) {
    try {
      sender().send({ type: 'failed', error: (err as Error).message });
    } catch { /* the predecessor is gone: it will say so */ }
    throw err;
  } finally {
    r.stop();
    native.close(fd);
  }
}
