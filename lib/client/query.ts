// The query client side: connect, send the request, split the NDJSON answer into lines.
// Used by logread and importable by anything that wants memlogd's logs.

import net from 'node:net';
import { ERR, MemlogdError } from '../protocol/errors.js';
import { parseEntry, type V1Entry } from '../protocol/v1.js';
import { encodeRequest, type QueryRequest } from '../protocol/v2.js';

/** The code of a failed connection (exit status 3 in every command). */
export const ERR_CONNECT = ERR.CONNECT;

/** Connects to the query socket and sends a v1 mode byte (or a raw request). */
export function connectQuery(path: string, request: number | Buffer): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ path, allowHalfOpen: true });
    const onError = (err: NodeJS.ErrnoException) => {
      sock.destroy();
      const hint = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? ' (is memlogd running?)' : '';
      reject(new MemlogdError(ERR.CONNECT, `cannot connect to memlogd at ${path}: ${err.code ?? err.message}${hint}`, { cause: err }));
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
 * Splits the answer into NDJSON lines: calls onLines with every complete line of each chunk (a
 * batch, so a caller can write one chunk of output per chunk of input). Resolves when the server
 * closes the connection; a last line without newline is delivered first, unless dropIncomplete
 * (v2 records always end with one: a line cut short is a connection that dropped). Rejects on a
 * socket error or when onLines throws (the socket is destroyed then).
 */
export function readLines(sock: net.Socket, onLines: (lines: string[]) => void, dropIncomplete = false): Promise<void> {
  return new Promise((resolve, reject) => {
    sock.setEncoding('utf8');
    let rest = '';
    let failed = false;
    const deliver = (lines: string[]): boolean => {
      if (lines.length === 0) return true;
      try {
        onLines(lines);
        return true;
      } catch (err) {
        failed = true;
        sock.destroy();
        reject(err);
        return false;
      }
    };
    sock.on('data', (text: string) => {
      if (failed) return;
      const lines = (rest + text).split('\n');
      rest = lines.pop()!;
      deliver(lines);
    });
    sock.once('end', () => {
      sock.destroy();
      if (failed) return;
      if (rest && !dropIncomplete && !deliver([rest])) return;
      resolve();
    });
    // A socket destroyed by the caller closes without 'end': that is the end too.
    sock.once('close', () => {
      if (!failed) resolve();
    });
    sock.once('error', (err) => {
      failed = true;
      reject(err);
    });
  });
}

/**
 * Every line of memlogd's answer to a v2 request, until it closes the connection (a line cut
 * short is left out) or signal aborts it.
 */
export async function requestLines(path: string, req: QueryRequest, signal?: AbortSignal): Promise<string[]> {
  const sock = await connectQuery(path, encodeRequest(req));
  const lines: string[] = [];
  const stop = () => sock.destroy();
  signal?.addEventListener('abort', stop, { once: true });
  if (signal?.aborted) stop();
  try {
    await readLines(sock, (l) => {
      for (const x of l) lines.push(x);
    }, true);
  } finally {
    signal?.removeEventListener('abort', stop);
    sock.destroy();
  }
  return lines;
}

/**
 * Reads v1 entries: calls onEntry for each, resolves when the server closes the connection.
 * The caller applies output backpressure with sock.pause()/resume().
 */
export function readEntries(sock: net.Socket, onEntry: (e: V1Entry) => void): Promise<void> {
  return readLines(sock, (lines) => {
    for (const line of lines) onEntry(parseEntry(line));
  });
}
