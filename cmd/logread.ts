#!/usr/bin/env node
// logread: print memlogd's logs. Reference-compatible flags (-socket, -f, -F) speak protocol v1;
// the filters, --json, --stats, cursors and --retry speak v2. Exit codes: 0 ok, 1 error (memlogd
// refused the request, protocol error), 2 usage, 3 cannot connect.

import { collect, goStyleArgs, intArg } from '../lib/cli/flags.js';
import { program, run } from '../lib/cli/run.js';
import { logread } from '../lib/logread/command.js';
import { DEFAULT_QUERY_SOCKET } from '../lib/protocol/constants.js';

run('logread', async () => {
  const cmd = program('logread', 'Print the log entries held by memlogd')
    .option('--socket <path>', 'memlogd query socket', DEFAULT_QUERY_SOCKET)
    .option('-f, --follow', 'follow: print new entries only, as they arrive')
    .option('-F, --dump-follow', 'print everything held, then follow')
    .option('-n, --tail <N>', 'only the last N entries held (with -f: the last N, then follow)', intArg(0))
    .option('--since <time>', 'only entries from this time on: RFC3339, or a duration back from now (30s, 10m, 2h, 1d)')
    .option('--until <time>', 'only entries before this time (RFC3339 or a duration back from now)')
    .option('-s, --source <glob>', 'only sources matching this glob (* ? [abc]); repeatable', collect)
    .option('--exclude <glob>', 'drop sources matching this glob; repeatable', collect)
    .option('--stream <stream>', 'only stdout (sources named *.out) or stderr (all others)')
    .option('-p, --priority <level>', 'only these severities, as journalctl -p: err (err and more severe), warning..err; names or 0-7')
    .option('--grep <regex>', 'only entries whose message matches this regular expression')
    .option('--json', 'print the v2 records as NDJSON (entries and gaps)')
    .option('--stats', "print memlogd's statistics: store, sources, readers")
    .option('--after <cursor>', 'resume strictly after this cursor (<instance>:<seq>)')
    .option('--cursor-file <file>', 'resume after the cursor in FILE, and keep it up to date')
    .option('--retry', 'wait for memlogd, and reconnect when the connection drops')
    .option('--color', 'always color the output')
    .option('--no-color', 'never color the output (default: color on a terminal)')
    .parse(goStyleArgs(process.argv.slice(2),
      ['socket', 'tail', 'since', 'until', 'source', 'exclude', 'stream', 'priority', 'grep', 'after', 'cursor-file'],
      ['json', 'stats', 'retry', 'color', 'no-color']), { from: 'user' });
  const o = cmd.opts<{
    socket: string; follow?: boolean; dumpFollow?: boolean; tail?: number; since?: string; until?: string;
    source?: string[]; exclude?: string[]; stream?: string; priority?: string; grep?: string; json?: boolean; stats?: boolean;
    after?: string; cursorFile?: string; retry?: boolean; color?: boolean;
  }>();
  // SIGINT/SIGTERM end logread normally: the cursor file is saved first. A second one insists.
  const stop = new AbortController();
  const onSignal = () => (stop.signal.aborted ? process.exit(130) : stop.abort());
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await logread({
    socket: o.socket, follow: o.follow, dumpFollow: o.dumpFollow, tail: o.tail, since: o.since, until: o.until,
    sources: o.source, exclude: o.exclude, stream: o.stream, priority: o.priority, grep: o.grep, json: o.json, stats: o.stats,
    after: o.after, cursorFile: o.cursorFile, retry: o.retry, color: o.color, signal: stop.signal,
  }, process.stdout);
});
