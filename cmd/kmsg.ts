#!/usr/bin/env node
// kmsg: relay the kernel log (/dev/kmsg) into memlogd, one record per line, with its level, its
// dictionary and a correct time; no duplicates after a restart, every loss reported.

import { InvalidArgumentError } from 'commander';
import { goStyleArgs } from '../lib/cli/flags.js';
import { program, run } from '../lib/cli/run.js';
import { kmsg } from '../lib/kmsg/command.js';
import { KMSG_PATH } from '../lib/kmsg/device.js';
import { DEFAULT_STATE } from '../lib/kmsg/state.js';

run('kmsg', async () => {
  const cmd = program('kmsg', 'Relay the kernel log into memlogd: one record per line, level and time included')
    .option('--device <path>', 'the kernel log device', KMSG_PATH)
    .option('--file <path>', 'read a recording (what `cat /dev/kmsg` prints) to its end instead')
    .option('--socket <path>', "hand kmsg's own pipe to memlogd at this logging socket, as source kmsg (default: write to stderr)")
    .option('--state <file>', 'where the next record to relay is kept across restarts', DEFAULT_STATE)
    .option('--no-state', 'keep no state file')
    .option('--replay <policy>', 'auto (the whole ring at the first start after boot, then new records), all, or new', (v) => {
      if (v !== 'auto' && v !== 'all' && v !== 'new') throw new InvalidArgumentError('must be auto, all or new');
      return v;
    }, 'auto')
    .option('--no-dict', 'leave out dictionary entries (SUBSYSTEM=..., DEVICE=...) instead of attaching them')
    .option('--no-level-prefix', "do not start lines with <N>, their priority (memlogd keeps it as the entry's severity; the reference's memlogd stores it as text)")
    .parse(goStyleArgs(process.argv.slice(2), ['device', 'file', 'socket', 'state', 'replay'], ['no-state', 'no-dict', 'no-level-prefix']), { from: 'user' });
  const o = cmd.opts<{ device: string; file?: string; socket?: string; state: string | false; replay: 'auto' | 'all' | 'new'; dict: boolean; levelPrefix: boolean }>();
  const stop = new AbortController();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => stop.abort());
  await kmsg({
    device: o.device, file: o.file, socket: o.socket, state: o.state === false ? null : o.state, replay: o.replay, dict: o.dict, levelPrefix: o.levelPrefix,
    signal: stop.signal,
  });
});
