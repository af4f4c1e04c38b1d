// UDP transport (RFC 5426): one message per datagram, nothing comes back. A datagram counts as
// sent once the kernel took it; whether it arrived nobody can tell (section 3.6: UDP may lose
// messages). A server that is not listening makes the kernel answer a later datagram with
// ECONNREFUSED (ICMP port unreachable): the transport then fails and the sender waits and
// starts again with the message that was refused.

import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import type { Transport, TransportHandler } from './transport.js';
import type { Destination } from './uri.js';

/** Datagrams handed to libuv and not yet sent: bounded so memory stays bounded when sending is slow. */
const MAX_OUTSTANDING = 64;

export class UdpTransport implements Transport {
  readonly settles = 'ack';
  readonly unsure = 0;
  private outstanding = 0;
  private written = 0;
  private dead = false;
  private idle: (() => void) | null = null;

  private constructor(private readonly sock: dgram.Socket, private readonly h: TransportHandler) {
    sock.on('error', (err) => this.fail(err));
  }

  static async open(d: Destination, h: TransportHandler): Promise<UdpTransport> {
    const { address, family } = await lookup(d.host);
    const sock = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      // connect(): the kernel then reports ICMP errors of this peer, and send() needs no address
      sock.connect(d.port, address, () => {
        sock.off('error', reject);
        resolve();
      });
    }).catch((err) => {
      sock.close();
      throw err;
    });
    return new UdpTransport(sock, h);
  }

  get ready(): boolean {
    return !this.dead && this.outstanding < MAX_OUTSTANDING;
  }

  get offset(): number {
    return this.written;
  }

  send(id: number, text: string, bytes: number): void {
    this.outstanding++;
    this.written += bytes;
    this.sock.send(text, (err) => {
      this.outstanding--;
      if (this.dead) return;
      if (err) {
        this.fail(err);
        return;
      }
      this.h.acked(id);
      if (this.outstanding === 0) this.idle?.();
      if (this.outstanding === MAX_OUTSTANDING - 1) this.h.drain();
    });
  }

  batch(fn: () => void): void {
    fn();
  }

  end(timeoutMs: number): Promise<boolean> {
    if (this.dead) return Promise.resolve(false);
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        const ok = this.outstanding === 0;
        this.dead = true;
        this.idle = null;
        this.sock.close();
        resolve(ok);
      };
      const timer = setTimeout(finish, timeoutMs);
      if (this.outstanding === 0) finish();
      else this.idle = finish;
    });
  }

  destroy(): void {
    if (!this.dead) {
      this.dead = true;
      this.sock.close();
    }
  }

  private fail(err: Error): void {
    if (this.dead) return;
    this.dead = true;
    this.sock.close();
    this.h.closed(err);
  }
}
