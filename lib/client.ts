// The query client side: connect, send the request, split the NDJSON answer into lines.
// Used by logread and importable by anything that wants memlogd's logs.

import net from 'node:net';
import { parseEntry, type V1Entry } from './protocol.js';

/** Error codes a caller can branch on. */
export const ERR_CONNECT = 'ERR_MEMLOGD_CONNECT';

/** Connects to the query socket and sends a v1 mode byte (or a raw request). */
export function connectQuery(path: string, request: number | Buffer): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ path, allowHalfOpen: true });
    const onError = (err: NodeJS.ErrnoException) => {
      sock.destroy();
      const hint = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? ' (is memlogd running?)' : '';
      reject(Object.assign(new Error(`cannot connect to memlogd at ${path}: ${err.code ?? err.message}${hint}`), {
        code: ERR_CONNECT, cause: err,
      }));
    };
    sock.once('error', onError);
    sock.once('connect', () => {
      sock.off('error', onError);
      sock.write(typeof request === 'number' ? Buffer.from([request]) : request);
      resolve(sock);
    });
  });
}

/**
 * Reads v1 entries: calls onEntry for each, resolves when the server closes the connection.
 * The caller applies output backpressure with sock.pause()/resume().
 */
export function readEntries(sock: net.Socket, onEntry: (e: V1Entry) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    // setEncoding decodes across chunk boundaries (a UTF-8 character may be split between reads).
    sock.setEncoding('utf8');
    let rest = '';
    sock.on('data', (text: string) => {
      text = rest + text;
      let pos = 0;
      let nl: number;
      try {
        while ((nl = text.indexOf('\n', pos)) !== -1) {
          onEntry(parseEntry(text.slice(pos, nl)));
          pos = nl + 1;
        }
      } catch (err) {
        sock.destroy();
        reject(err);
        return;
      }
      rest = text.slice(pos);
    });
    sock.once('end', () => {
      sock.destroy();
      if (rest) {
        try {
          onEntry(parseEntry(rest));
        } catch (err) {
          reject(err);
          return;
        }
      }
      resolve();
    });
    sock.once('error', (err) => reject(err));
  });
}
