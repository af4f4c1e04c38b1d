// TCP (RFC 6587) and TLS (RFC 5425) transports: octet-counted messages on a stream the server
// never answers on. Settlement by window (see transport.ts): the sender hears how many bytes were
// handed to the kernel, and treats the last `unsure` of them as possibly lost.

import type net from 'node:net';
import { FrameBatch, octetFrame } from './framing.js';
import { CONNECT_TIMEOUT_MS, kernelUnsureBytes, openSocket } from './socket.js';
import type { Transport, TransportHandler } from './transport.js';
import type { Destination } from './uri.js';

/** Bytes queued in one batch before it is written (one write). */
const BATCH_BYTES = 64 * 1024;

export class StreamTransport implements Transport {
  readonly settles = 'window';
  private readonly batched = new FrameBatch();
  private dead = false;
  private ending: ((ok: boolean) => void) | null = null;

  private constructor(private readonly sock: net.Socket, private readonly h: TransportHandler, readonly unsure: number) {
    sock.on('drain', () => h.drain());
    // A syslog server sends nothing on this stream; reading notices its FIN.
    sock.on('data', () => {});
    sock.on('end', () => {
      if (this.ending) this.ending(true); // it read everything up to our FIN, then closed
      else this.fail(new Error('the server closed the connection'));
    });
    sock.on('error', (err) => this.fail(err));
    sock.on('close', () => this.fail(null));
  }

  static async open(d: Destination, h: TransportHandler, signal?: AbortSignal): Promise<StreamTransport> {
    const sock = await openSocket(d, CONNECT_TIMEOUT_MS, signal);
    return new StreamTransport(sock, h, d.unsure ?? kernelUnsureBytes());
  }

  get ready(): boolean {
    return !this.dead && !this.sock.writableNeedDrain && this.batched.bytes < BATCH_BYTES;
  }

  get offset(): number {
    return this.batched.offset;
  }

  send(_id: number, text: string, bytes: number): void {
    this.batched.push(octetFrame(text, bytes), text, bytes);
  }

  batch(fn: () => void): void {
    fn();
    const data = this.batched.take();
    if (data === null || this.dead) return;
    const end = this.batched.written;
    // One string, encoded once; the callback runs once it (and everything before it) is in the kernel.
    this.sock.write(data, (err) => {
      if (!err && !this.dead) this.h.flushed(end);
    });
  }

  end(timeoutMs: number): Promise<boolean> {
    if (this.dead) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(false), timeoutMs);
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        this.ending = null;
        this.dead = true;
        this.sock.destroy();
        resolve(ok);
      };
      this.ending = finish;
      this.sock.end();
    });
  }

  destroy(): void {
    this.sock.destroy();
  }

  private fail(err: Error | null): void {
    if (this.ending) {
      this.ending(false);
      return;
    }
    if (this.dead) return;
    this.dead = true;
    this.sock.destroy();
    this.h.closed(err ?? new Error('the connection closed'));
  }
}
