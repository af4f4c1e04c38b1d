#!/usr/bin/env node
// logbundle: collect a diagnostics bundle (memlogd's logs and stats, the log directory, the
// kernel log, system facts) into one tar.gz with a checksummed manifest, secrets masked.
// Exit codes: 0 the bundle was made (whatever items were missing), 1 it could not be written,
// 2 usage.

import { InvalidArgumentError, Option } from 'commander';
import { collect, goStyleArgs, parsedArg as arg } from '../lib/cli/flags.js';
import { program, run } from '../lib/cli/run.js';
import { logbundle } from '../lib/bundle/collect.js';
import { KMSG_PATH } from '../lib/kmsg/device.js';
import { LOGWRITE_DEFAULTS, parseSize } from '../lib/logwrite/options.js';
import { DEFAULT_QUERY_SOCKET } from '../lib/protocol/constants.js';
import { UsageError } from '../lib/protocol/errors.js';

/** --max-size default: the compressed bundle stays attachable to an issue (GitHub takes 25 MB). */
const DEFAULT_MAX_SIZE = '16M';

const seconds = (v: string): number => {
  if (!/^\d+(\.\d+)?$/.test(v) || Number(v) <= 0) throw new InvalidArgumentError('must be a number of seconds > 0');
  return Number(v) * 1000;
};

run('logbundle', async () => {
  const cmd = program('logbundle', 'Collect memlogd\'s logs, the log directory, the kernel log and system facts into one tar.gz for a bug report')
    .option('-o, --output <file>', 'the archive (an existing directory: the default name in it; - for stdout) [default: ./logbundle-<hostname>-<UTC time>.tar.gz]')
    .option('--socket <path>', 'memlogd query socket', DEFAULT_QUERY_SOCKET)
    .option('--log-dir <dir>', "logwrite's directory: its files go in newest first, within --max-size", LOGWRITE_DEFAULTS.logDir)
    .addOption(new Option('--max-size <size>', 'most bytes of --log-dir files in the bundle; the rest is cut, keeping the newest (k, M, G)')
      .argParser(arg(parseSize)).default(parseSize(DEFAULT_MAX_SIZE), DEFAULT_MAX_SIZE))
    .option('--redact <regex>', 'also mask whatever matches this regular expression (JavaScript syntax); repeatable', collect)
    .option('--no-redact', 'do not mask the usual secret shapes (passwords, tokens, keys); --redact patterns still apply')
    .addOption(new Option('--no-default-rules').hideHelp())
    .option('--timeout <seconds>', "every item's time limit (default: each item's own, 10s, memlogd's dump 30s)", seconds)
    .option('--kmsg-device <path>', 'the kernel log device read directly', KMSG_PATH)
    .parse(goStyleArgs(process.argv.slice(2), ['output', 'socket', 'log-dir', 'max-size', 'redact', 'timeout', 'kmsg-device'], ['no-redact'])
      // commander would keep --redact's patterns and --no-redact under one key: --no-redact is
      // handed to it under a name of its own
      .map((a) => (a === '--no-redact' ? '--no-default-rules' : a)), { from: 'user' });
  const o = cmd.opts<{
    output?: string; socket: string; logDir: string; maxSize: number; redact?: string[]; defaultRules: boolean; timeout?: number; kmsgDevice: string;
  }>();
  if (o.output === '-' && process.stdout.isTTY) throw new UsageError('-o -: refusing to write a binary archive to a terminal (redirect stdout, or use -o FILE)');
  const stop = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort());
  const tty = process.stderr.isTTY === true;
  const r = await logbundle({
    output: o.output, socket: o.socket, logDir: o.logDir, maxSize: o.maxSize, noRedact: !o.defaultRules, patterns: o.redact ?? [], timeoutMs: o.timeout,
    kmsgDevice: o.kmsgDevice, signal: stop.signal, progress: tty ? (line) => process.stderr.write(`logbundle: ${line}\n`) : undefined,
  });
  const s = r.manifest.summary;
  if (tty) process.stderr.write(`logbundle: ${s.ok} items archived, ${s.skipped} skipped, ${s.failed} failed (see manifest.json)\n`);
  if (r.file !== null) process.stdout.write(r.file + '\n');
});
