#!/usr/bin/env node
// memlogd: the in-memory log daemon (reference-compatible flags, Go single-dash style too).

import { fileURLToPath } from 'node:url';
import { goStyleArgs, groupArg, intArg, octalArg, uidListArg } from '../lib/cli/flags.js';
import { program, run } from '../lib/cli/run.js';
import { takeChildOptions, takeTakeoverFd } from '../lib/daemon/child.js';
import { parseLevelPrefix } from '../lib/daemon/priority.js';
import { memlogd, serveChild, serveTakeover } from '../lib/daemon/command.js';
import { DAEMON_DEFAULTS as DEF } from '../lib/protocol/constants.js';

const LONG = ['socket-log', 'socket-query', 'fd-log', 'fd-query', 'max-lines', 'max-line-len', 'max-bytes', 'query-timeout', 'outage-ms',
  'socket-log-mode', 'socket-query-mode', 'socket-group', 'allow-log-uid', 'allow-query-uid', 'level-prefix',
  'socket-syslog', 'socket-syslog-mode', 'syslog-idents-per-uid'];
const BOOL = ['daemonize', 'restart', 'no-supervise'];

/** Repeatable --level-prefix, checked now (a bad glob or facility is a usage error). */
function levelPrefixArg(v: string, prev: string[] | undefined): string[] {
  parseLevelPrefix(v);
  return [...(prev ?? []), v];
}

run('memlogd', async () => {
  // The background child of -daemonize gets its options from the parent, already checked.
  const child = takeChildOptions();
  if (child) return serveChild(child);
  // A graceful restart's successor: its predecessor hands it everything on this fd.
  const takeover = takeTakeoverFd();
  if (takeover !== null) return serveTakeover(takeover);
  const cmd = program('memlogd', 'In-memory log daemon: holds the last lines of every container')
    .option('--socket-log <path>', 'logging socket (fds in)', DEF.socketLog)
    .option('--socket-query <path>', 'query socket (logs out)', DEF.socketQuery)
    .option('--fd-log <n>', 'use this inherited, bound logging socket fd', intArg(0))
    .option('--fd-query <n>', 'use this inherited, listening query socket fd', intArg(0))
    .option('--max-lines <n>', 'entries held at most', intArg(1), DEF.maxLines)
    .option('--max-line-len <n>', 'longer lines are stored as continuation pieces of this size', intArg(8), DEF.maxLineLen)
    .option('--max-bytes <n>', 'message bytes held at most', intArg(1), DEF.maxBytes)
    .option('--query-timeout <ms>', 'disconnect a query client that sends no request within this time', intArg(1), DEF.handshakeTimeoutMs)
    .option('--socket-log-mode <octal>', 'file mode of the logging socket (default 0600: only its owner, root)', octalArg)
    .option('--socket-query-mode <octal>', 'file mode of the query socket (default 0660: owner and group)', octalArg)
    .option('--socket-group <group>', 'group (name or gid) of both socket files', groupArg)
    .option('--allow-log-uid <uid>', 'uid or user allowed to hand over fds (repeatable; default root and our own uid)', uidListArg)
    .option('--allow-query-uid <uid>', 'uid or user allowed to query (repeatable; default root and our own uid)', uidListArg)
    .option('--socket-syslog <path>', 'also take syslog messages (RFC 3164/5424, as syslog(3) and logger send them) on this datagram socket, e.g. /dev/log')
    .option('--socket-syslog-mode <octal>', 'file mode of the syslog socket (default 0666: every local user may log, as with /dev/log)', octalArg)
    .option('--syslog-idents-per-uid <n>', 'program names (sources syslog.<ident>) one uid may make; beyond, its messages go to syslog.uid<N>', intArg(1), DEF.syslogIdentsPerUid)
    .option('--level-prefix <glob[:facility]>', `sources whose lines may start with <N>, their severity (repeatable; default ${DEF.levelPrefix.join(', ')})`, levelPrefixArg)
    .option('--daemonize', 'bind both sockets, serve them in the background, exit once they accept')
    .option('--no-supervise', 'with -daemonize: no supervisor (it restarts memlogd after a crash and keeps the source fds meanwhile)')
    .option('--outage-ms <ms>', 'with -daemonize: how long writers wait for a crashed memlogd before the supervisor drains their pipes', intArg(1), 5000)
    .option('--restart', 'restart the memlogd serving --socket-query gracefully (SIGUSR2): everything carried over, nothing lost')
    .parse(goStyleArgs(process.argv.slice(2), LONG, BOOL), { from: 'user' });
  const o = cmd.opts<{
    socketLog: string; socketQuery: string; fdLog?: number; fdQuery?: number; maxLines: number;
    maxLineLen: number; maxBytes: number; queryTimeout: number; daemonize?: boolean; socketLogMode?: number;
    socketQueryMode?: number; socketGroup?: number; allowLogUid?: number[]; allowQueryUid?: number[]; levelPrefix?: string[]; socketSyslog?: string; socketSyslogMode?: number; syslogIdentsPerUid: number; restart?: boolean; supervise: boolean; outageMs: number;
  }>();
  if (o.restart) {
    const { requestRestart } = await import('../lib/client/restart.js');
    const r = await requestRestart(o.socketQuery);
    process.stderr.write(`memlogd: restarted gracefully, pid ${r.from} -> ${r.to}\n`);
    return;
  }
  await memlogd({
    socketLog: o.socketLog, socketQuery: o.socketQuery, fdLog: o.fdLog, fdQuery: o.fdQuery,
    maxLines: o.maxLines, maxLineLen: o.maxLineLen, maxBytes: o.maxBytes, handshakeTimeoutMs: o.queryTimeout,
    socketLogMode: o.socketLogMode, socketQueryMode: o.socketQueryMode, socketGroup: o.socketGroup,
    allowLogUids: o.allowLogUid, allowQueryUids: o.allowQueryUid, levelPrefix: o.levelPrefix,
    socketSyslog: o.socketSyslog, socketSyslogMode: o.socketSyslogMode, syslogIdentsPerUid: o.syslogIdentsPerUid, daemonize: o.daemonize, supervise: o.supervise, outageMs: o.outageMs,
    script: fileURLToPath(import.meta.url),
  });
});
