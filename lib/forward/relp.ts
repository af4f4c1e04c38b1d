// The RELP client (librelp's protocol; framing.ts has the frame format): a session is opened
// with `open` (offering `commands=syslog`), then every message is a `syslog` command the server
// answers with `200 OK` once it took it (rsyslog with a Direct queue: once its action wrote it).
// Up to `window` commands are in flight; responses come in order. A session ends with `close`;
// the server ends one with `serverclose` (rsyslog does on shutdown). There is no resuming a
// session: after a break the unacknowledged messages are sent again on a new one.

import type net from 'node:net';
import { FrameBatch, nextTxnr, relpFrame, relpOk, relpResponse, RelpParser, relpSyslogFrame, type RelpFrame } from './framing.js';
import { CONNECT_TIMEOUT_MS, openSocket } from './socket.js';
import type { Transport, TransportHandler } from './transport.js';
import type { Destination } from './uri.js';

/** What we tell the server we are (librelp shows it in its logs). */
const SOFTWARE = 'logforward,0.1.0,memlogd (TypeScript)';
const OPEN_OFFERS = `relp_version=0\nrelp_software=${SOFTWARE}\ncommands=syslog`;
/** Bytes queued in one batch before it is written. */
const BATCH_BYTES = 64 * 1024;

export class RelpTransport implements Transport {
  readonly settles = 'ack';
  readonly unsure = 0;
  private readonly parser = new RelpParser();
  private txnr = 1; // the open command's
  /** txnr and message id of every command in flight, oldest first (ring: head index). */
  private readonly inflightTxnr: number[] = [];
  private readonly inflightId: number[] = [];
  private head = 0;
  private readonly batched = new FrameBatch();
  private dead = false;
  private opened: ((err: Error | null) => void) | null = null;
  private closing: { txnr: number; done: () => void } | null = null;
  private idle: (() => void) | null = null;

  private constructor(private readonly sock: net.Socket, private readonly h: TransportHandler, private readonly window: number) {
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('drain', () => h.drain());
    sock.on('end', () => this.fail(new Error('the server closed the connection')));
    sock.on('error', (err) => this.fail(err));
    sock.on('close', () => this.fail(new Error('the connection closed')));
  }

  /** Connects and opens a session; rejects when the server does not take syslog messages over RELP. */
  static async open(d: Destination, h: TransportHandler, signal?: AbortSignal): Promise<RelpTransport> {
    const sock = await openSocket(d, CONNECT_TIMEOUT_MS, signal);
    const t = new RelpTransport(sock, h, d.window);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => t.opened?.(new Error(`no answer to the RELP open within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
      const stopped = () => t.opened?.(new Error('stopped'));
      signal?.addEventListener('abort', stopped, { once: true });
      t.opened = (err) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', stopped);
        t.opened = null;
        if (err) {
          t.dead = true;
          sock.destroy();
          reject(err);
        } else resolve();
      };
      sock.write(relpFrame(t.txnr, 'open', OPEN_OFFERS));
    });
    return t;
  }

  private get inflight(): number {
    return this.inflightTxnr.length - this.head;
  }

  get ready(): boolean {
    return !this.dead && this.closing === null && this.inflight < this.window && !this.sock.writableNeedDrain && this.batched.bytes < BATCH_BYTES;
  }

  get offset(): number {
    return this.batched.offset;
  }

  send(id: number, text: string, bytes: number): void {
    this.txnr = nextTxnr(this.txnr);
    this.batched.push(relpSyslogFrame(this.txnr, text, bytes), text, bytes);
    this.inflightTxnr.push(this.txnr);
    this.inflightId.push(id);
  }

  // Every acknowledgement chunk sends what the window allows at once. Waiting for half the window
  // to refill in bigger writes was measured 10 times slower: the server's small answers then wait
  // on its Nagle algorithm for our delayed ACK.
  batch(fn: () => void): void {
    fn();
    const data = this.batched.take();
    if (data !== null && !this.dead) this.sock.write(data);
  }

  private onData(chunk: Buffer): void {
    let frames: RelpFrame[];
    try {
      frames = this.parser.push(chunk);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    let acked = -1;
    for (const f of frames) {
      if (this.dead) return;
      if (f.command === 'serverclose') {
        // librelp follows its answer to our close with one; any other is the server going away
        if (this.closing) continue;
        this.fail(new Error('the server closed the RELP session (serverclose)'));
        return;
      }
      if (f.command !== 'rsp') {
        this.fail(new Error(`unexpected RELP command from the server: ${f.command}`));
        return;
      }
      if (this.opened && f.txnr === 1) {
        const r = relpResponse(f.data);
        this.opened(r.code === 200 && /^commands=(?:.*,)?syslog(?:,|$)/m.test(r.text) ? null
          : new Error(`the server refused the RELP session: ${r.code || ''} ${r.text.split('\n')[0]}`.trim()));
        continue;
      }
      if (this.closing && f.txnr === this.closing.txnr) {
        this.closing.done();
        continue;
      }
      if (this.inflight === 0 || this.inflightTxnr[this.head] !== f.txnr) {
        this.fail(new Error(`RELP response for transaction ${f.txnr}, which is not the oldest in flight`));
        return;
      }
      if (!relpOk(f.data)) {
        const r = relpResponse(f.data);
        this.fail(new Error(`the server did not take a message: ${r.code} ${r.text}`));
        return;
      }
      acked = this.inflightId[this.head++];
    }
    if (this.head > 1024 && this.head * 2 > this.inflightTxnr.length) {
      this.inflightTxnr.splice(0, this.head);
      this.inflightId.splice(0, this.head);
      this.head = 0;
    }
    if (acked >= 0) this.h.acked(acked);
    if (this.inflight === 0) this.idle?.();
  }

  end(timeoutMs: number): Promise<boolean> {
    if (this.dead) return Promise.resolve(false);
    return new Promise((resolve) => {
      let allAcked = false;
      const finish = () => {
        clearTimeout(timer);
        this.idle = null;
        this.closing = null;
        this.dead = true;
        this.sock.destroy();
        resolve(allAcked);
      };
      const timer = setTimeout(finish, timeoutMs);
      const close = () => {
        allAcked = true;
        this.idle = null;
        this.txnr = nextTxnr(this.txnr);
        this.closing = { txnr: this.txnr, done: finish };
        this.sock.write(relpFrame(this.txnr, 'close'));
      };
      this.failHook = finish;
      if (this.inflight === 0) close();
      else this.idle = close;
    });
  }

  /** While ending: a broken connection finishes the ending instead of reporting a failure. */
  private failHook: (() => void) | null = null;

  destroy(): void {
    this.sock.destroy();
  }

  private fail(err: Error): void {
    if (this.dead) return;
    if (this.opened) {
      this.opened(err);
      return;
    }
    if (this.failHook) {
      this.failHook();
      return;
    }
    this.dead = true;
    this.sock.destroy();
    this.h.closed(err);
  }
}
