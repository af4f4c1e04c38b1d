#!/usr/bin/env node
// logread: print memlogd's logs (reference-compatible flags: -socket, -f, -F).

import { program, run } from '../lib/cli.js';
import { goStyleArgs } from '../lib/flags.js';
import { logread } from '../lib/logread.js';
import { DEFAULT_QUERY_SOCKET } from '../lib/protocol.js';

run('logread', async () => {
  const cmd = program('logread', 'Print the log entries held by memlogd')
    .option('--socket <path>', 'memlogd query socket', DEFAULT_QUERY_SOCKET)
    .option('-f, --follow', 'follow: print new entries only, as they arrive')
    .option('-F, --dump-follow', 'print everything held, then follow')
    .parse(goStyleArgs(process.argv.slice(2), ['socket']), { from: 'user' });
  const o = cmd.opts<{ socket: string; follow?: boolean; dumpFollow?: boolean }>();
  await logread({ socket: o.socket, follow: o.follow, dumpFollow: o.dumpFollow }, process.stdout);
});
