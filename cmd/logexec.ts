#!/usr/bin/env node
// logexec -n NAME [-socket PATH] [--mode pipe|socketpair|fifo] -- CMD ARGS...: run CMD with its
// output logged by memlogd.

import { Option } from 'commander';
import { goStyleArgs } from '../lib/cli/flags.js';
import { program, run } from '../lib/cli/run.js';
import { DEFAULT_FIFO_DIR, HANDOFF_MODES, type HandoffMode } from '../lib/logexec/handoff-modes.js';
import { logexec } from '../lib/logexec/logexec.js';
import { DEFAULT_LOG_SOCKET } from '../lib/protocol/constants.js';

run('logexec', async () => {
  const cmd = program('logexec', 'Run a command with its stdout/stderr handed to memlogd (as NAME.out / NAME)')
    .requiredOption('-n, --name <name>', 'source name (stdout is logged as NAME.out, stderr as NAME)')
    .option('--socket <path>', 'memlogd logging socket', DEFAULT_LOG_SOCKET)
    .addOption(new Option('--mode <mode>', 'what is handed over: a pipe, or what LinuxKit init hands over for an onboot action (socketpair) or a service (fifo)')
      .choices(HANDOFF_MODES).default('pipe'))
    .option('--fifo-dir <dir>', 'where fifo mode creates NAME.out.log and NAME.log', DEFAULT_FIFO_DIR)
    .argument('<command>', 'command to run')
    .argument('[args...]', 'its arguments')
    .passThroughOptions()
    .parse(goStyleArgs(process.argv.slice(2), ['socket', 'name', 'mode', 'fifo-dir']), { from: 'user' });
  const o = cmd.opts<{ name: string; socket: string; mode: HandoffMode; fifoDir: string }>();
  const [command, args] = cmd.processedArgs as [string, string[]];
  return logexec({ name: o.name, socket: o.socket, mode: o.mode, fifoDir: o.fifoDir, command, args });
});
