#!/usr/bin/env node
// logexec -n NAME [-socket PATH] -- CMD ARGS...: run CMD with its output logged by memlogd.

import { goStyleArgs } from '../lib/cli/flags.js';
import { program, run } from '../lib/cli/run.js';
import { logexec } from '../lib/logexec/logexec.js';
import { DEFAULT_LOG_SOCKET } from '../lib/protocol/constants.js';

run('logexec', async () => {
  const cmd = program('logexec', 'Run a command with its stdout/stderr handed to memlogd (as NAME.out / NAME)')
    .requiredOption('-n, --name <name>', 'source name (stdout is logged as NAME.out, stderr as NAME)')
    .option('--socket <path>', 'memlogd logging socket', DEFAULT_LOG_SOCKET)
    .argument('<command>', 'command to run')
    .argument('[args...]', 'its arguments')
    .passThroughOptions()
    .parse(goStyleArgs(process.argv.slice(2), ['socket', 'name']), { from: 'user' });
  const o = cmd.opts<{ name: string; socket: string }>();
  const [command, args] = cmd.processedArgs as [string, string[]];
  return logexec({ name: o.name, socket: o.socket, command, args });
});
