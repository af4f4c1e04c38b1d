// The serving memlogd's side of the supervisor's control channel (supervisor.ts): a duplicate of
// every source fd goes up to the supervisor as memlogd takes it, and is released when memlogd is
// done with it; after a crash, the supervisor sends the held fds down again (adopt).

import * as native from '../native/index.js';
import { CONTROL_SEND_MS, Receiver, Sender } from './handover.js';

export interface Adopted {
  id: number;
  /** Source name bytes. */
  name: Buffer;
  kind: 'file' | 'stream';
  fd: number;
}

export class Holder {
  private nextId = 1;
  private readonly receiver: Receiver;

  /** fd: this end of the control channel (owned); onAdopt: fds the supervisor gives back after a crash. */
  constructor(readonly fd: number, onAdopt: (inputs: Adopted[], lost: Record<string, { lines: number; bytes: number }>, crashes: number) => void,
    firstId = 1) {
    this.nextId = firstId;
    native.setCloexec(fd);
    const receiver = new Receiver(fd);
    this.receiver = receiver;
    void (async () => {
      for (;;) {
        const m = await receiver.next();
        if (!m) return; // the supervisor is gone: memlogd serves on without one
        if (m.header.type !== 'adopt') {
          for (const f of m.fds) native.close(f);
          continue;
        }
        const list = m.header.inputs as Array<{ id: number; name: string; kind: 'file' | 'stream' }>;
        onAdopt(list.map((x, i) => ({ id: x.id, name: Buffer.from(x.name, 'base64'), kind: x.kind, fd: m.fds[i] })),
          m.header.lost as Record<string, { lines: number; bytes: number }>, Number(m.header.crashes));
        for (const x of list) this.nextId = Math.max(this.nextId, x.id + 1);
      }
    })();
  }

  /** The next id a held fd gets (a successor continues the numbering). */
  get next(): number {
    return this.nextId;
  }

  private send(header: Record<string, unknown>, fds: number[] = []): boolean {
    try {
      new Sender(this.fd, Date.now() + CONTROL_SEND_MS).send(header, undefined, fds);
      return true;
    } catch {
      return false; // no supervisor any more: nothing to keep
    }
  }

  /** Gives the supervisor a duplicate of fd; returns its id (0 when there is no supervisor). */
  hold(fd: number, name: Buffer, kind: 'file' | 'stream'): number {
    const id = this.nextId++;
    // SCM_RIGHTS gives the supervisor its own fd for the same pipe: nothing to duplicate here
    return this.send({ type: 'hold', id, name: name.toString('base64'), kind }, [fd]) ? id : 0;
  }

  release(id: number): void {
    if (id > 0) this.send({ type: 'release', id });
  }

  serving(afterCrash: boolean): void {
    this.send({ type: 'serving', pid: process.pid, afterCrash });
  }

  stopping(): void {
    this.send({ type: 'stopping' });
  }

  /** Stops listening (a graceful restart hands the channel to the successor). */
  detach(): void {
    this.receiver.stop();
  }

  /** memlogd stops: stop listening and close our end (the supervisor sees the end of the channel). */
  close(): void {
    this.receiver.stop();
    try {
      native.close(this.fd);
    } catch { /* closed */ }
  }
}
