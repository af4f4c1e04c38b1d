// The central-tier configurations of docs/forwarding.md, run as they are written there (only
// their paths and port replaced): logforward sends over RELP+TLS (rsyslog) and TLS (syslog-ng)
// with a client certificate, and the servers write one file per VM and source.

import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { runRsyslog } from '../../bench/rsyslog.js';
import { useCleanups } from '../support/cleanup.js';
import { handOff, ROOT, startDaemon, waitFor } from '../support/helpers.js';
import { runSyslogNg, syslogNgVersion } from '../support/syslog-ng.js';
import { describeRsyslog, startLogforward, useCerts } from '../support/syslog.js';

const { track, tmpDir } = useCleanups();
const certs = useCerts();

/** The code block of docs/forwarding.md that follows `<!-- tested: name -->`. */
function docBlock(name: string): string {
  const doc = fs.readFileSync(path.join(ROOT, 'docs/forwarding.md'), 'utf8');
  const m = new RegExp(`<!-- tested: ${name} -->\\n\`\`\`\\w*\\n([^]*?)\`\`\``).exec(doc);
  if (!m) throw new Error(`no block "tested: ${name}" in docs/forwarding.md`);
  return m[1];
}

/** Every file under dir, relative. */
function files(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

function feedVm(logSock: string): void {
  handOff(logSock, 'web', 'upstream timeout\n');
  handOff(logSock, 'db.out', 'checkpoint complete\n');
  handOff(logSock, '../evil', 'trying to escape\n');
}

describeRsyslog('docs/forwarding.md', () => {
  it('the central rsyslog drop-in takes RELP over TLS from a VM and writes a file per VM and source', async () => {
    const d = track(await startDaemon());
    feedVm(d.log);
    const dir = tmpDir();
    const out = path.join(dir, 'fleet');
    const conf = docBlock('rsyslog')
      .replaceAll('/var/log/fleet', out)
      .replaceAll('/etc/rsyslog-fleet/', `${certs.dir}/`)
      .replace('port="2514"', 'address="127.0.0.3" port="0"');
    // what a whole rsyslog.conf adds around a drop-in (here: no /dev/log, files under the test's dir)
    const srv = await runRsyslog(`global(workDirectory="${dir}/spool" processInternalMessages="on" net.enableDNS="off")\n`
      + `action(type="omfile" file="${dir}/internal.log")\n${conf}`, dir, [{ input: 'relpTls', addr: '127.0.0.3', proto: 'tcp', port: () => 0 }]);
    track({ stop: () => srv.stop() });
    const c = (f: string) => path.join(certs.dir, f);
    const lf = track(startLogforward(['-socket', d.query, '--no-state', '--hostname', 'vm7',
      `relp+tls://127.0.0.3:${srv.ports.relpTls}?ca=${c('ca.pem')}&cert=${c('client.pem')}&key=${c('client-key.pem')}`]));
    await waitFor(() => fs.existsSync(out) && files(out).length === 4, 'a file per source', 30_000);
    expect(files(out)).toEqual(['vm7/%2E.%2Fevil.log', 'vm7/db.out.log', 'vm7/memlogd.log', 'vm7/web.log']);
    const line = fs.readFileSync(path.join(out, 'vm7/web.log'), 'utf8');
    expect(line).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d) web \[memlogd@32473 instance="[0-9a-f]+" seq="1"\] upstream timeout\n$/);
    expect(await lf.stop()).toEqual({ code: 0, signal: null });
  });

  (syslogNgVersion() ? it : it.skip)('the central syslog-ng source takes TLS with a client certificate', async () => {
    const d = track(await startDaemon());
    feedVm(d.log);
    const dir = tmpDir();
    const out = path.join(dir, 'fleet');
    const conf = docBlock('syslog-ng')
      .replace(/^@version: .*$/m, `@version: ${syslogNgVersion()}`)
      .replaceAll('/var/log/fleet', out)
      .replaceAll('/etc/syslog-ng/fleet/', `${certs.dir}/`)
      .replace('port(6514)', 'ip("127.0.0.4") port(0)');
    const srv = await runSyslogNg(conf, dir, [{ input: 'tls', addr: '127.0.0.4', proto: 'tcp', port: () => 0 }]);
    track({ stop: () => srv.stop() });
    const c = (f: string) => path.join(certs.dir, f);
    const lf = track(startLogforward(['-socket', d.query, '--no-state', '--hostname', 'vm8',
      `tls://127.0.0.4:${srv.ports.tls}?ca=${c('ca.pem')}&cert=${c('client.pem')}&key=${c('client-key.pem')}`]));
    await waitFor(() => fs.existsSync(out) && files(out).length === 4, 'a file per source', 30_000)
      .catch((err) => {
        throw new Error(`${(err as Error).message}\nsyslog-ng: ${srv.output()}\nlogforward: ${lf.stderr()}\nfiles: ${fs.existsSync(out) ? files(out) : 'none'}`);
      });
    expect(files(out)).toEqual(['vm8/%2E.%2Fevil.log', 'vm8/db.out.log', 'vm8/memlogd.log', 'vm8/web.log']);
    expect(fs.readFileSync(path.join(out, 'vm8/web.log'), 'utf8'))
      .toMatch(/^\S+ web \[memlogd@32473 instance="[0-9a-f]+" seq="1"\] upstream timeout\n$/);
    expect(await lf.stop()).toEqual({ code: 0, signal: null });
  });
});

