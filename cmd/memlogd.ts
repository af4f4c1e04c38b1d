#!/usr/bin/env node
// memlogd: the in-memory log daemon (reference-compatible flags, Go single-dash style too).

import { fileURLToPath } from 'node:url';
import { EXIT_OK, program, run } from '../lib/cli.js';
import { goStyleArgs, groupArg, intArg, octalArg, uidListArg } from '../lib/flags.js';

const LONG = ['socket-log', 'socket-query', 'fd-log', 'fd-query', 'max-lines', 'max-line-len', 'max-bytes', 'query-timeout',
  'socket-log-mode', 'socket-query-mode', 'socket-group', 'allow-log-uid', 'allow-query-uid'];
const BOOL = ['daemonize'];
// Reference defaults (5000 lines, 1024 bytes); kept here so --help needs no daemon code.
const DEF = { log: '/var/run/linuxkit-external-logging.sock', query: '/var/run/memlogdq.sock', lines: 5000, lineLen: 1024, bytes: 8 * 1024 * 1024 };

run('memlogd', async () => {
  // The background child of -daemonize gets its options from the parent, already checked.
  const child = process.env.MEMLOGD_DAEMON_CHILD;
  if (child) {
    delete process.env.MEMLOGD_DAEMON_CHILD;
    const { serve } = await import('../lib/serve.js');
    await serve(JSON.parse(child));
    return EXIT_OK;
  }
  const argv = goStyleArgs(process.argv.slice(2), LONG, BOOL);
  const cmd = program('memlogd', 'In-memory log daemon: holds the last lines of every container')
    .option('--socket-log <path>', 'logging socket (fds in)', DEF.log)
    .option('--socket-query <path>', 'query socket (logs out)', DEF.query)
    .option('--fd-log <n>', 'use this inherited, bound logging socket fd', intArg(0))
    .option('--fd-query <n>', 'use this inherited, listening query socket fd', intArg(0))
    .option('--max-lines <n>', 'entries held at most', intArg(1), DEF.lines)
    .option('--max-line-len <n>', 'longer lines are stored as continuation pieces of this size', intArg(8), DEF.lineLen)
    .option('--max-bytes <n>', 'message bytes held at most', intArg(1), DEF.bytes)
    .option('--query-timeout <ms>', 'disconnect a query client that sends no request within this time', intArg(1), 10_000)
    .option('--socket-log-mode <octal>', 'file mode of the logging socket (default 0600: only its owner, root)', octalArg)
    .option('--socket-query-mode <octal>', 'file mode of the query socket (default 0660: owner and group)', octalArg)
    .option('--socket-group <group>', 'group (name or gid) of both socket files', groupArg)
    .option('--allow-log-uid <uid>', 'uid or user allowed to hand over fds (repeatable; default root and our own uid)', uidListArg)
    .option('--allow-query-uid <uid>', 'uid or user allowed to query (repeatable; default root and our own uid)', uidListArg)
    .option('--daemonize', 'bind both sockets, serve them in the background, exit once they accept')
    .parse(argv, { from: 'user' });
  const o = cmd.opts<{
    socketLog: string; socketQuery: string; fdLog?: number; fdQuery?: number; maxLines: number;
    maxLineLen: number; maxBytes: number; queryTimeout: number; daemonize?: boolean; socketLogMode?: number;
    socketQueryMode?: number; socketGroup?: number; allowLogUid?: number[]; allowQueryUid?: number[];
  }>();
  const opts = {
    socketLog: o.socketLog, socketQuery: o.socketQuery, fdLog: o.fdLog, fdQuery: o.fdQuery,
    maxLines: o.maxLines, maxLineLen: o.maxLineLen, maxBytes: o.maxBytes, handshakeTimeoutMs: o.queryTimeout,
    socketLogMode: o.socketLogMode, socketQueryMode: o.socketQueryMode, socketGroup: o.socketGroup,
    allowLogUids: o.allowLogUid, allowQueryUids: o.allowQueryUid,
  };
  if (o.daemonize) {
    const { daemonize } = await import('../lib/daemonize.js');
    await daemonize({ ...opts, script: fileURLToPath(import.meta.url) });
    return EXIT_OK;
  }
  const { serve } = await import('../lib/serve.js');
  await serve(opts);
  return EXIT_OK;
});
