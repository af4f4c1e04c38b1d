// syslog-ng as a second real server, run from the private prefix scripts/fetch-syslog-ng.sh
// unpacks (the package itself conflicts with rsyslog). Its syslog() source takes RFC 6587
// octet-counted frames only (a newline-framed one is dropped) and has no RELP.

import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { INPUT_ADDRESS, spawnServer, type RunningServer } from '../../bench/rsyslog.js';
import { ROOT } from './helpers.js';

/** The prefix: $SYSLOG_NG_ROOT, or .cache/syslog-ng of the repository. */
export const SYSLOG_NG_ROOT = process.env.SYSLOG_NG_ROOT ?? path.join(ROOT, '.cache/syslog-ng');
const BIN = path.join(SYSLOG_NG_ROOT, 'usr/sbin/syslog-ng');

/** The version directory of its modules (`3.38`), or null when syslog-ng is not unpacked there. */
export function syslogNgVersion(): string | null {
  if (!fs.existsSync(BIN)) return null;
  const dir = path.join(SYSLOG_NG_ROOT, 'usr/lib/syslog-ng');
  return fs.readdirSync(dir).find((n) => /^\d+\.\d+$/.test(n)) ?? null;
}

export type SyslogNgInput = 'udp' | 'tcp' | 'tls';

export interface SyslogNgOptions extends Partial<Record<SyslogNgInput, number>> {
  dir: string;
  certs?: string;
}

/** One JSON object per message in `<input>.log`; nil fields come out as "". */
export function syslogNgConf(o: SyslogNgOptions, version: string): string {
  const dir = path.resolve(o.dir);
  const q = (s: string) => JSON.stringify(s);
  const out = [`@version: ${version}
options { use-dns(no); dns-cache(no); keep-hostname(yes); stats-freq(0); log-msg-size(262144); };
template t_json { template("$(format-json pri=\${PRI} host=\${HOST} app=\${PROGRAM} procid=\${PID} msgid=\${MSGID} sd=\${SDATA} msg=\${MSG})\\n"); };
`];
  for (const k of ['udp', 'tcp', 'tls'] as const) {
    if (o[k] === undefined) continue;
    const c = (n: string) => q(path.join(path.resolve(o.certs ?? '.'), n));
    const tls = k === 'tls' ? ` tls(key-file(${c('server-key.pem')}) cert-file(${c('server.pem')}) ca-file(${c('ca.pem')}) peer-verify(optional-untrusted))` : '';
    // two port(0) sources need their own persist-name
    out.push(`source s_${k} { syslog(ip(${q(INPUT_ADDRESS[k])}) port(${o[k]}) transport(${q(k)}) persist-name(${q(`s_${k}`)})${tls}); };
destination d_${k} { file(${q(path.join(dir, `${k}.log`))} template(t_json)); };
log { source(s_${k}); destination(d_${k}); };
`);
  }
  return out.join('\n');
}

export interface RunningSyslogNg extends RunningServer {
  lines: (input: SyslogNgInput) => string[];
}

export async function startSyslogNg(o: SyslogNgOptions, timeoutMs = 15_000): Promise<RunningSyslogNg> {
  const version = syslogNgVersion();
  if (!version) throw new Error(`syslog-ng is not unpacked in ${SYSLOG_NG_ROOT} (scripts/fetch-syslog-ng.sh)`);
  const dir = path.resolve(o.dir);
  const wanted = (['udp', 'tcp', 'tls'] as const).filter((k) => o[k] !== undefined)
    .map((input) => ({ input, addr: INPUT_ADDRESS[input], proto: input === 'udp' ? 'udp' as const : 'tcp' as const, port: () => o[input]! }));
  const s = await runSyslogNg(syslogNgConf({ ...o, dir }, version), dir, wanted, timeoutMs);
  return {
    ...s,
    lines: (input) => {
      try {
        return fs.readFileSync(path.join(dir, `${input}.log`), 'utf8').split('\n').slice(0, -1);
      } catch {
        return [];
      }
    },
  };
}

/** Runs syslog-ng with this config text (written to dir/syslog-ng.conf, checked with --syntax-only first). */
export async function runSyslogNg(conf: string, dir: string, wanted: Parameters<typeof spawnServer>[4], timeoutMs = 15_000): Promise<RunningServer> {
  const version = syslogNgVersion();
  if (!version) throw new Error(`syslog-ng is not unpacked in ${SYSLOG_NG_ROOT} (scripts/fetch-syslog-ng.sh)`);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'syslog-ng.conf');
  fs.writeFileSync(file, conf);
  const env = {
    ...process.env,
    LD_LIBRARY_PATH: ['usr/lib/syslog-ng', 'usr/lib/x86_64-linux-gnu', 'lib/x86_64-linux-gnu'].map((p) => path.join(SYSLOG_NG_ROOT, p)).join(':'),
  };
  const common = [`--module-path=${path.join(SYSLOG_NG_ROOT, 'usr/lib/syslog-ng', version)}`, '-f', file];
  const check = spawnSync(BIN, [...common, '--syntax-only'], { env, encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`syslog-ng --syntax-only rejected ${file}:\n${check.stderr}`);
  return spawnServer(BIN, [...common, '-F', '-e', '--no-caps', '-p', path.join(dir, 'syslog-ng.pid'), '-c', path.join(dir, 'syslog-ng.ctl'),
    '-R', path.join(dir, 'syslog-ng.persist')], env, dir, wanted, /Address already in use|Error binding socket/i, timeoutMs);
}
