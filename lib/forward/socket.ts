// A stream connection to a syslog server: TCP, or TLS with the server's certificate verified
// (Node's bundled CAs, or the destination's `ca=`), and a client certificate when one is given.

import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { Destination } from './uri.js';

/** How long connecting (and a RELP open) may take. */
export const CONNECT_TIMEOUT_MS = 10_000;

/**
 * A stream connection, connected (TLS: handshake done and the server's certificate accepted).
 * signal gives up at once (SIGTERM must not wait for a server that does not answer).
 */
export function openSocket(d: Destination, timeoutMs: number, signal?: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    let sock: net.Socket;
    try {
      if (d.tls) {
        const opts: tls.ConnectionOptions = { host: d.host, port: d.port, rejectUnauthorized: d.tls.verify };
        if (d.tls.servername) opts.servername = d.tls.servername;
        if (d.tls.ca) opts.ca = readPem(d.tls.ca, 'ca');
        if (d.tls.cert) opts.cert = readPem(d.tls.cert, 'cert');
        if (d.tls.key) opts.key = readPem(d.tls.key, 'key');
        sock = tls.connect(opts);
      } else sock = net.connect({ host: d.host, port: d.port });
    } catch (err) {
      reject(err);
      return;
    }
    const stopped = () => fail(new Error('stopped'));
    const fail = (err: Error) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', stopped);
      sock.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
    signal?.addEventListener('abort', stopped, { once: true });
    sock.once('error', fail);
    sock.once(d.tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', stopped);
      sock.off('error', fail);
      sock.setNoDelay(true);
      // A server that vanished (a VM gone, a cable pulled) is noticed even while nothing is sent.
      sock.setKeepAlive(true, 30_000);
      resolve(sock);
    });
  });
}

function readPem(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read the ${what} file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** A connection error in a few words: the code and, for TLS, what was wrong with the certificate. */
export function reasonOf(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code && /CERT|SIGNATURE|ISSUER|SELF_SIGNED|VERIFY|TLS|SSL/.test(code)) return `TLS: ${err.message} (${code})`;
  if (code && err.message.includes(code)) return code;
  return code ? `${err.message} (${code})` : err.message;
}

/** The third (max) field of a /proc/sys/net/ipv4/tcp_[rw]mem file, or fallback. */
function sysctlMax(file: string, fallback: number): number {
  try {
    const v = Number(fs.readFileSync(file, 'utf8').trim().split(/\s+/)[2]);
    return Number.isSafeInteger(v) && v > 0 ? v : fallback;
  } catch {
    return fallback;
  }
}

/**
 * How many of the last bytes written on a TCP connection may not have arrived when it breaks:
 * our send buffer (at most tcp_wmem's max, Linux default 4 MiB) plus the server's receive
 * buffer (assumed as large as ours may grow: tcp_rmem's max, Linux default 6 MiB) plus 1 MiB
 * for what the server had read but not yet handled.
 */
export function kernelUnsureBytes(): number {
  return sysctlMax('/proc/sys/net/ipv4/tcp_wmem', 4 << 20) + sysctlMax('/proc/sys/net/ipv4/tcp_rmem', 6 << 20) + (1 << 20);
}
