#!/usr/bin/env node
// memlogd: the in-memory log daemon (reference-compatible flags, Go single-dash style too).

import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EXIT_OK, program, run } from '../lib/cli.js';
import { Daemon, DEFAULTS } from '../lib/daemon.js';
import { daemonize } from '../lib/daemonize.js';
import { goStyleArgs, intArg } from '../lib/flags.js';

const LONG = ['socket-log', 'socket-query', 'fd-log', 'fd-query', 'max-lines', 'max-line-len', 'max-bytes', 'query-timeout', 'ready-fd'];
const BOOL = ['daemonize'];

run('memlogd', async () => {
  const argv = goStyleArgs(process.argv.slice(2), LONG, BOOL);
  const cmd = program('memlogd', 'In-memory log daemon: holds the last lines of every container')
    .option('--socket-log <path>', 'logging socket (fds in)', DEFAULTS.socketLog)
    .option('--socket-query <path>', 'query socket (logs out)', DEFAULTS.socketQuery)
    .option('--fd-log <n>', 'use this inherited, bound logging socket fd', intArg(0))
    .option('--fd-query <n>', 'use this inherited, listening query socket fd', intArg(0))
    .option('--max-lines <n>', 'entries held at most', intArg(1), DEFAULTS.maxLines)
    .option('--max-line-len <n>', 'longer lines are stored as continuation pieces of this size', intArg(8), DEFAULTS.maxLineLen)
    .option('--max-bytes <n>', 'message bytes held at most', intArg(1), DEFAULTS.maxBytes)
    .option('--query-timeout <ms>', 'disconnect a query client that sends no request within this time', intArg(1), 10_000)
    .option('--daemonize', 'bind both sockets, serve them in the background, exit once they accept')
    .option('--ready-fd <n>', 'internal: write "ready" to this fd once serving', intArg(0))
    .parse(argv, { from: 'user' });
  const o = cmd.opts<{
    socketLog: string; socketQuery: string; fdLog?: number; fdQuery?: number; maxLines: number;
    maxLineLen: number; maxBytes: number; queryTimeout: number; daemonize?: boolean; readyFd?: number;
  }>();

  if (o.daemonize) {
    const passOn = argv.filter((a) => a !== '--daemonize');
    await daemonize({ socketLog: o.socketLog, socketQuery: o.socketQuery, script: fileURLToPath(import.meta.url), args: passOn });
    return EXIT_OK;
  }

  const d = await Daemon.start({
    socketLog: o.socketLog, socketQuery: o.socketQuery, fdLog: o.fdLog, fdQuery: o.fdQuery,
    maxLines: o.maxLines, maxLineLen: o.maxLineLen, maxBytes: o.maxBytes, handshakeTimeoutMs: o.queryTimeout,
  });
  if (o.readyFd !== undefined) {
    fs.writeSync(o.readyFd, 'ready\n');
    fs.closeSync(o.readyFd);
  } else {
    process.stderr.write(`memlogd: serving ${o.fdLog !== undefined ? `fd ${o.fdLog}` : o.socketLog} (logging) and ${o.fdQuery !== undefined ? `fd ${o.fdQuery}` : o.socketQuery} (query)\n`);
  }
  await new Promise<void>((resolve) => {
    const stop = () => void d.close().then(resolve);
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return EXIT_OK;
});
