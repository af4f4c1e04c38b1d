// -daemonize, as the reference does it: bind both sockets here (so errors such as "already
// running" are reported by the command that was run), start memlogd in the background on the
// inherited fds, and return only once the child says both sockets are served.

import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import * as native from '../native/index.js';
import { DEFAULT_LOG_SOCKET_MODE, DEFAULT_QUERY_SOCKET_MODE, DEFAULT_SYSLOG_SOCKET_MODE } from '../protocol/constants.js';
import { ERR, MemlogdError } from '../protocol/errors.js';
import { BACKGROUND_NODE_ARGS, CHILD_ENV } from './child.js';
import type { DaemonOptions } from './daemon.js';
import type { ServeOptions } from './serve.js';
import { bindSocket } from './socket-file.js';
import { startServing } from './supervisor.js';

/** How long the parent waits for the child to report ready. */
const READY_TIMEOUT_MS = 10_000;

export interface DaemonizeOptions extends Partial<DaemonOptions> {
  socketLog: string;
  socketQuery: string;
  /** The daemon's entry script (cmd/memlogd), run again as the background child. */
  script: string;
  /** The background child supervises the serving memlogd (supervisor.ts); default true. */
  supervise?: boolean;
  outageMs?: number;
}

/** Resolves with the child's pid once it is serving; rejects with a coded error otherwise. */
export async function daemonize(o: DaemonizeOptions): Promise<number> {
  const log = bindSocket('dgram', o.socketLog, o.socketLogMode ?? DEFAULT_LOG_SOCKET_MODE, o.socketGroup);
  let query;
  let syslog;
  try {
    query = bindSocket('stream', o.socketQuery, o.socketQueryMode ?? DEFAULT_QUERY_SOCKET_MODE, o.socketGroup);
    if (o.socketSyslog !== undefined) syslog = bindSocket('dgram', o.socketSyslog, o.socketSyslogMode ?? DEFAULT_SYSLOG_SOCKET_MODE);
  } catch (err) {
    native.close(log.fd);
    if (query) native.close(query.fd);
    throw err;
  }
  const [r, w] = native.pipe();
  const extra = syslog ? [syslog.fd] : [];
  const toClose = [log.fd, query.fd, w, ...extra];
  const pids: number[] = [];
  try {
    // The options go by environment (already validated here), so the children skip flag parsing.
    // The argv is for `ps` only: it says which sockets this background memlogd serves.
    const { script, ...rest } = o;
    const psArgs = ['-socket-log', o.socketLog, '-socket-query', o.socketQuery];
    const started = (child: ChildProcess) => {
      child.unref();
      pids.push(child.pid!);
    };
    const start = (opts: ServeOptions, fds: number[]) => started(spawn(process.execPath, [...BACKGROUND_NODE_ARGS, script, ...psArgs], {
      stdio: ['ignore', 'ignore', 'ignore', ...fds],
      detached: true,
      env: { ...process.env, [CHILD_ENV]: JSON.stringify(opts) },
    }));
    const supervise = o.supervise !== false;
    // fds 3, 4, 5 (and 6): logging socket, query socket, readiness pipe (and the syslog socket).
    const fdSyslog = syslog ? 6 : undefined;
    if (!supervise) start({ ...rest, supervise: false, fdLog: 3, fdQuery: 4, readyFd: 5, fdSyslog }, toClose);
    else {
      // The supervisor and the serving memlogd start side by side, joined by their channel:
      // started by the supervisor, memlogd would wait for a third node start-up in a row. The
      // supervisor says ready once memlogd tells it that it serves.
      const [sup, srv] = native.socketpair(native.SOCK_SEQPACKET);
      toClose.push(sup, srv);
      start({ ...rest, supervise: true, fdLog: 3, fdQuery: 4, readyFd: 5, fdSyslog, channelFd: 6 + extra.length }, [log.fd, query.fd, w, ...extra, sup]);
      started(startServing({
        script, psArgs, nodeArgs: BACKGROUND_NODE_ARGS, options: rest, fdLog: log.fd, fdQuery: query.fd, fdSyslog: syslog?.fd,
        channel: srv, afterCrash: false, detached: true,
      }));
    }
  } finally {
    for (const fd of toClose) native.close(fd);
  }
  const pid = pids[0];
  const ready = new net.Socket({ fd: r, readable: true, writable: false });
  const said = await new Promise<string>((resolve) => {
    let text = '';
    const timer = setTimeout(() => resolve(text), READY_TIMEOUT_MS);
    ready.setEncoding('utf8');
    ready.on('data', (d: string) => { text += d; });
    ready.on('error', () => {});
    ready.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
  ready.destroy();
  if (!said.startsWith('ready')) {
    for (const p of pids) {
      try {
        process.kill(p, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    throw new MemlogdError(ERR.DAEMONIZE, `memlogd failed to start in the background${said ? `: ${said.trim()}` : ''}`);
  }
  return pid;
}
