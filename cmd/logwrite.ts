#!/usr/bin/env node
// logwrite: persist everything memlogd holds into per-source files (reference-compatible flags:
// -socket, -log-dir, -max-log-size, -max-log-files; Go single-dash style too).

import { goStyleArgs, intArg, parsedArg as arg } from '../lib/cli/flags.js';
import { program, run } from '../lib/cli/run.js';
import { logwrite } from '../lib/logwrite/command.js';
import { LOGWRITE_DEFAULTS, parseFsync, parseSize, type FsyncPolicy } from '../lib/logwrite/options.js';
import { UsageError } from '../lib/protocol/errors.js';

const LONG = ['socket', 'log-dir', 'max-log-size', 'max-log-files', 'max-total-size', 'fsync', 'format', 'max-line-size'];
const BOOL = ['compress'];

run('logwrite', async () => {
  const d = LOGWRITE_DEFAULTS;
  const cmd = program('logwrite', 'Write everything memlogd holds into per-source log files, with rotation, resuming without loss or duplicates')
    .option('--socket <path>', 'memlogd query socket', d.socket)
    .option('--log-dir <dir>', 'directory of the log files', d.logDir)
    .option('--max-log-size <bytes>', 'rotate before a file would grow beyond this (k, M, G suffixes)', arg(parseSize), d.maxLogSize)
    .option('--max-log-files <n>', 'rotated files kept per source (<source>.log.0 newest)', intArg(0), d.maxLogFiles)
    .option('--max-total-size <bytes>', 'cap on the whole directory; the oldest rotated files go first (0: none)', arg(parseSize), d.maxTotalSize)
    .option('--compress', 'gzip rotated files in the background')
    .option('--fsync <policy>', 'line (every line), never, or an interval such as 1s or 250ms', arg(parseFsync), d.fsync)
    .option('--format <format>', 'text (`<time> <source> <msg>`) or json (NDJSON with seq)', arg((v) => {
      if (v !== 'text' && v !== 'json') throw new Error('must be text or json');
      return v;
    }), d.format)
    .option('--max-line-size <bytes>', 'a long line is joined from memlogd\'s pieces up to this size', arg(parseSize), d.maxLineBytes)
    .parse(goStyleArgs(process.argv.slice(2), LONG, BOOL), { from: 'user' });
  const o = cmd.opts<{
    socket: string; logDir: string; maxLogSize: number; maxLogFiles: number; maxTotalSize: number; compress?: boolean;
    fsync: FsyncPolicy; format: 'text' | 'json'; maxLineSize: number;
  }>();
  if (o.maxLogSize < 1) throw new UsageError('--max-log-size must be at least 1 byte');
  const ac = new AbortController();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => ac.abort());
  await logwrite({
    socket: o.socket, logDir: o.logDir, maxLogSize: o.maxLogSize, maxLogFiles: o.maxLogFiles, maxTotalSize: o.maxTotalSize,
    compress: !!o.compress, fsync: o.fsync, format: o.format, maxLineBytes: o.maxLineSize,
  }, ac.signal);
});
