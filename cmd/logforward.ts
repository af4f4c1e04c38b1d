#!/usr/bin/env node
// logforward: ship what memlogd holds to syslog servers (UDP, TCP, TLS, RELP), resuming by cursor.
//   logforward [-socket PATH] [--state FILE] DEST...

import { goStyleArgs, parsedArg as arg } from '../lib/cli/flags.js';
import { program, run } from '../lib/cli/run.js';
import { logforward } from '../lib/forward/command.js';
import { checkSdId, FORWARD_DEFAULTS } from '../lib/forward/options.js';
import { Option } from 'commander';
import { facilityName, parseFacility } from '../lib/protocol/severity.js';

const LONG = ['socket', 'state', 'hostname', 'sd-id', 'facility', 'format'];
const BOOL = ['no-state'];

run('logforward', async () => {
  const d = FORWARD_DEFAULTS;
  const cmd = program('logforward', 'Ship what memlogd holds to syslog servers (udp, tcp, tls, relp), resuming by cursor after any restart')
    .argument('<destination...>', 'udp://HOST[:514], tcp://HOST:PORT, tls://HOST[:6514], relp://HOST:PORT, relp+tls://HOST:PORT; '
      + 'query parameters: source=GLOB exclude=GLOB (repeatable) stream=stdout|stderr priority=SEVERITY format facility maxsize '
      + 'window (RELP) unsure (TCP/TLS) ca cert key servername verify=off (TLS)')
    .option('--socket <path>', 'memlogd query socket', d.socket)
    .option('--state <file>', 'state file: the cursor of every destination', d.state!)
    .option('--no-state', 'keep no state: every start sends everything memlogd holds')
    .option('--hostname <name>', 'HOSTNAME of the messages (default: this machine\'s name)')
    .option('--sd-id <id>', 'SD-ID of the structured data with the memlogd instance and seq (name@<enterprise number>)', arg(checkSdId), d.sdId)
    .addOption(new Option('--facility <name>', 'facility of entries that carry none (user, daemon, local0 ... or 0-23)').argParser(arg((v) => {
      const f = parseFacility(v);
      if (f === null) throw new Error('not a facility (kern, user, daemon, local0 ... or 0-23)');
      return f;
    })).default(d.facility, facilityName(d.facility)))
    .option('--format <format>', 'rfc5424 or rfc3164 (a destination may say format=)', arg((v) => {
      if (v !== 'rfc5424' && v !== 'rfc3164') throw new Error('must be rfc5424 or rfc3164');
      return v;
    }), d.format)
    .parse(goStyleArgs(process.argv.slice(2), LONG, BOOL), { from: 'user' });
  const o = cmd.opts<{ socket: string; state: string | false; hostname?: string; sdId: string; facility: number; format: 'rfc5424' | 'rfc3164' }>();
  const ac = new AbortController();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => ac.abort());
  await logforward(cmd.processedArgs[0] as string[], {
    socket: o.socket, state: o.state === false ? null : o.state, hostname: o.hostname, sdId: o.sdId, facility: o.facility, format: o.format,
  }, ac.signal);
});
