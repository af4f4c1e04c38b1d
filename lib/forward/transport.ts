// What a sender needs from a connection to a syslog server, whatever the transport, and the one
// place that picks the transport for a destination.
//
// Messages get consecutive ids. How a sender learns that they arrived differs:
// - 'ack': RELP acknowledges each message (after the server wrote it, with the Direct queue
//   rsyslog needs for that); UDP "acknowledges" a datagram once the kernel took it (RFC 5426
//   has no acknowledgement: this is the best UDP can say).
// - 'window': TCP and TLS say nothing. Bytes the kernels still buffer (ours unsent or unacked,
//   the server's received but not read yet) die with a broken connection, so everything written
//   in the last `unsure` bytes may not have arrived; what lies further back has.

import type { Destination } from './uri.js';
import { RelpTransport } from './relp.js';
import { StreamTransport } from './stream.js';
import { UdpTransport } from './udp.js';

export interface TransportHandler {
  /** 'ack': every message up to and including id arrived. */
  acked(id: number): void;
  /** 'window': this many bytes of this connection are in the kernel (everything but its unsure tail arrived). */
  flushed(bytes: number): void;
  /** It takes messages again. */
  drain(): void;
  /** The connection is gone: err says why (null: ended by us). Called once; nothing is called after it. */
  closed(err: Error | null): void;
}

export interface Transport {
  readonly settles: 'ack' | 'window';
  /** 'window': how many of the last bytes written may not have arrived. */
  readonly unsure: number;
  /** Can it take one more message now? */
  readonly ready: boolean;
  /** Queues a message (framed by the transport; bytes: its UTF-8 length); written at the end of the batch. */
  send(id: number, text: string, bytes: number): void;
  /** Runs fn (which calls send) and writes what it queued in one go. */
  batch(fn: () => void): void;
  /** Byte offset (framed) of this connection after the last message sent. */
  readonly offset: number;
  /**
   * Ends the connection gracefully within timeoutMs (RELP: waits for the acknowledgements, then
   * closes the session; TCP/TLS: half-closes and waits for the server to close after reading
   * everything). Resolves true when everything sent is known to have arrived.
   */
  end(timeoutMs: number): Promise<boolean>;
  destroy(): void;
}

/** Opens a connection to the destination's server; rejects with the reason (at once when signal aborts). */
export function openTransport(d: Destination, h: TransportHandler, signal?: AbortSignal): Promise<Transport> {
  switch (d.transport) {
    case 'udp':
      return UdpTransport.open(d, h);
    case 'relp':
    case 'relp+tls':
      return RelpTransport.open(d, h, signal);
    default:
      return StreamTransport.open(d, h, signal);
  }
}
