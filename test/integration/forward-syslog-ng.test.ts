// logforward into syslog-ng, a second real server (unpacked by scripts/fetch-syslog-ng.sh; the
// test is skipped where it is not): UDP, TCP and TLS (syslog-ng has no RELP).

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../support/cleanup.js';
import { handOff, startDaemon, waitFor } from '../support/helpers.js';
import { startSyslogNg, SYSLOG_NG_ROOT, syslogNgVersion } from '../support/syslog-ng.js';
import { startLogforward, useCerts } from '../support/syslog.js';

const { track, tmpDir } = useCleanups();
const certs = useCerts();
const HAVE = syslogNgVersion() !== null;

(HAVE ? describe : describe.skip)(`logforward into syslog-ng${HAVE ? '' : ` (not unpacked in ${SYSLOG_NG_ROOT}: scripts/fetch-syslog-ng.sh)`}`, () => {
  it('sends RFC 5424 over udp, tcp and tls; syslog-ng reads app-name, structured data and message', async () => {
    const d = track(await startDaemon());
    handOff(d.log, 'web', 'upstream timeout\n');
    handOff(d.log, 'web.out', 'GET / 200 "quoted" [brackets]\n');
    const srv = await startSyslogNg({ dir: tmpDir(), certs: certs.dir, udp: 0, tcp: 0, tls: 0 });
    track({ stop: () => srv.stop() });
    const p = srv.ports;
    const lf = track(startLogforward(['-socket', d.query, '--no-state', '--hostname', 'vm1', `udp://127.0.0.1:${p.udp}`,
      `tcp://127.0.0.1:${p.tcp}`, `tls://127.0.0.4:${p.tls}?ca=${path.join(certs.dir, 'ca.pem')}`]));
    const inputs = ['udp', 'tcp', 'tls'] as const;
    await waitFor(() => inputs.every((i) => srv.lines(i).length >= 3), 'the messages at syslog-ng');
    const instance = /instance ([0-9a-f]+)/.exec(lf.stderr())![1];
    for (const i of inputs) {
      const got = srv.lines(i).map((l) => JSON.parse(l) as Record<string, string>);
      expect(got.map((m) => [m.pri, m.host, m.app, m.msg]), i).toEqual([
        ['45', 'vm1', 'memlogd', 'memlogd started'], ['11', 'vm1', 'web', 'upstream timeout'], ['14', 'vm1', 'web.out', 'GET / 200 "quoted" [brackets]'],
      ]);
      expect(got.map((m) => m.sd), i).toEqual([0, 1, 2].map((seq) => `[memlogd@32473 instance="${instance}" seq="${seq}"]`));
    }
    expect(await lf.stop()).toEqual({ code: 0, signal: null });
  });
});
