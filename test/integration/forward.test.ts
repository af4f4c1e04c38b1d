// logforward into a real rsyslogd (started by the test on 127.0.0.x ephemeral ports): every
// transport, what the messages carry, filters, long lines, gaps, TLS verification, and a
// restart that resumes by cursor.

import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { procStat } from '../../bench/proc.js';
import { startRsyslog, type RunningRsyslog } from '../../bench/rsyslog.js';
import { timestamp5424 } from '../../lib/forward/rfc5424.js';
import { gapSourcesV1 } from '../../lib/protocol/gap.js';
import { encodeRequest } from '../../lib/protocol/v2.js';
import { exited, handOff, queryRaw, startDaemon, waitFor, waitStderr, sleep } from '../support/helpers.js';
import { useCleanups } from '../support/cleanup.js';
import { describeRsyslog, parseJsonLines, startLogforward, useCerts } from '../support/syslog.js';

const { track, tmpDir, defer } = useCleanups();
const certs = useCerts();

async function rsyslog(o: Parameters<typeof startRsyslog>[0]): Promise<RunningRsyslog> {
  const s = await startRsyslog(o);
  track({ stop: () => s.stop() });
  return s;
}

describeRsyslog('logforward into rsyslog', () => {
  it('sends every entry over udp, tcp, tls, relp and relp+tls as RFC 5424 with the memlogd instance and seq', async () => {
    const d = track(await startDaemon());
    handOff(d.log, 'web.out', 'GET / 200\nGET /missing 404\n');
    handOff(d.log, 'web', 'upstream timeout\n');
    handOff(d.log, 'café app', 'tab\tinside and ünïcode\n');
    const srv = await rsyslog({ dir: tmpDir(), certs: certs.dir, udp: 0, tcp: 0, tls: 0, relp: 0, relpTls: 0 });
    const p = srv.ports;
    const ca = path.join(certs.dir, 'ca.pem');
    const state = path.join(tmpDir(), 'lf.state');
    const lf = track(startLogforward(['-socket', d.query, '--state', state, '--hostname', 'vm1',
      `udp://127.0.0.1:${p.udp}`, `tcp://127.0.0.1:${p.tcp}`, `tls://127.0.0.4:${p.tls}?ca=${ca}`, `relp://127.0.0.2:${p.relp}`,
      `relp+tls://127.0.0.3:${p.relpTls}?ca=${ca}`]));
    const inputs = ['udp', 'tcp', 'tls', 'relp', 'relpTls'] as const;
    await waitFor(() => inputs.every((i) => srv.lines(i).length >= 5), 'every message on every input');
    const instance = /instance ([0-9a-f]+)/.exec(lf.stderr())![1];
    const held = (await queryRaw(d.query, encodeRequest({ mode: 'dump' }))).toString().split('\n').slice(1, 6).map((l) => JSON.parse(l));
    for (const i of inputs) {
      const got = parseJsonLines(srv.lines(i));
      expect(got.map((m) => [m.pri, m.appname, m.msg]), i).toEqual([
        ['45', 'memlogd', 'memlogd started'], // memlogd's own notes carry their severity and facility: syslog.notice
        ['14', 'web.out', 'GET / 200'], // stdout: user.info
        ['14', 'web.out', 'GET /missing 404'],
        ['11', 'web', 'upstream timeout'],
        ['11', 'caf%C3%A9%20app', 'tab\tinside and ünïcode'],
      ]);
      got.forEach((m, seq) => {
        expect(m).toMatchObject({ version: '1', hostname: 'vm1', procid: '-', msgid: '-', sd: `[memlogd@32473 instance="${instance}" seq="${seq}"]` });
        // memlogd's receive time, to the microsecond (RFC 5424 allows no more)
        expect(m.timestamp).toBe(timestamp5424(held[seq].time));
      });
    }
    expect(await lf.stop()).toEqual({ code: 0, signal: null });
    // every destination's cursor is in the state file; a restart sends nothing again
    const saved = JSON.parse(fs.readFileSync(state, 'utf8'));
    expect(Object.keys(saved.destinations)).toHaveLength(5);
    for (const v of Object.values(saved.destinations)) expect(v).toMatchObject({ instance, seq: 4 });
    handOff(d.log, 'web', 'after the restart\n');
    const again = track(startLogforward(['-socket', d.query, '--state', state, '--hostname', 'vm1',
      `udp://127.0.0.1:${p.udp}`, `tcp://127.0.0.1:${p.tcp}`, `tls://127.0.0.4:${p.tls}?ca=${ca}`, `relp://127.0.0.2:${p.relp}`,
      `relp+tls://127.0.0.3:${p.relpTls}?ca=${ca}`]));
    await waitFor(() => inputs.every((i) => srv.lines(i).length >= 6), 'the new line everywhere');
    await sleep(300);
    for (const i of inputs) expect(parseJsonLines(srv.lines(i)).map((m) => m.msg).slice(4), i).toEqual(['tab\tinside and ünïcode', 'after the restart']);
    expect(again.stderr()).toMatch(new RegExp(`connected; sending after ${instance}:4`));
    expect(again.stderr()).not.toMatch(/may have been sent before/); // a clean stop leaves nothing uncertain
    expect(await again.stop()).toEqual({ code: 0, signal: null });
  });

  it('applies each destination\'s filters, format and facility', async () => {
    const d = track(await startDaemon());
    handOff(d.log, 'web.out', 'GET / 200\n');
    handOff(d.log, 'web', 'upstream timeout\n');
    handOff(d.log, 'db', 'checkpoint\n');
    handOff(d.log, 'web-debug', 'noise\n');
    handOff(d.log, 'web', 'second\n'); // after entries the filters skip: a hole in seq, not a loss
    const srv = await rsyslog({ dir: tmpDir(), udp: 0, tcp: 0, relp: 0 });
    const p = srv.ports;
    const lf = track(startLogforward(['-socket', d.query, '--no-state', '--hostname', 'vm1', '--facility', 'local0',
      `relp://127.0.0.2:${p.relp}?source=web*&exclude=web-debug&stream=stderr`,
      `tcp://127.0.0.1:${p.tcp}?format=rfc3164&exclude=memlogd&priority=info&facility=daemon`,
      `udp://127.0.0.1:${p.udp}?priority=err&exclude=memlogd`]));
    await waitFor(() => srv.lines('relp').length >= 2 && srv.lines('tcp').length >= 5 && srv.lines('udp').length >= 4, 'the messages');
    await sleep(300);
    expect(parseJsonLines(srv.lines('relp')).map((m) => [m.pri, m.appname, m.msg])).toEqual([['131', 'web', 'upstream timeout'], ['131', 'web', 'second']]);
    // RFC 3164: rsyslog reads the tag as app-name; facility daemon (3)
    const bsd = parseJsonLines(srv.lines('tcp'));
    expect(bsd.map((m) => [m.pri, m.appname, m.msg, m.sd])).toEqual([
      // (rsyslog keeps the space after the TAG's colon in msg)
      ['30', 'web.out', ' GET / 200', '-'], ['27', 'web', ' upstream timeout', '-'], ['27', 'db', ' checkpoint', '-'], ['27', 'web-debug', ' noise', '-'],
      ['27', 'web', ' second', '-'],
    ]);
    expect(bsd[0].hostname).toBe('vm1');
    expect(parseJsonLines(srv.lines('udp')).map((m) => m.msg)).toEqual(['upstream timeout', 'checkpoint', 'noise', 'second']);
    expect(lf.stderr()).not.toMatch(/does not follow the protocol/);
    expect(await lf.stop()).toEqual({ code: 0, signal: null });
  });

  it('uses each entry\'s own severity and facility (sources whose lines start with <N>), and filters on them', async () => {
    // kmsg's lines are kern unless <N> says otherwise; app's have no facility unless <N> says one
    const d = track(await startDaemon(['--level-prefix', 'kmsg:kern', '--level-prefix', 'app']));
    handOff(d.log, 'kmsg', '<3>disk failure\n');
    handOff(d.log, 'app', '<3>db down\n<14>just a note\n<163>local4 error\n');
    const srv = await rsyslog({ dir: tmpDir(), relp: 0, tcp: 0 });
    const lf = track(startLogforward(['-socket', d.query, '--no-state', '--facility', 'daemon',
      `relp://127.0.0.2:${srv.ports.relp}?exclude=memlogd`, `tcp://127.0.0.1:${srv.ports.tcp}?exclude=memlogd&priority=err`]));
    await waitFor(() => srv.lines('relp').length >= 4 && srv.lines('tcp').length >= 3, 'the levelled lines');
    await sleep(300);
    // kern.err; err with no facility (the default, daemon); user.info; local4.err
    const all = [['3', 'disk failure'], ['27', 'db down'], ['14', 'just a note'], ['163', 'local4 error']];
    expect(parseJsonLines(srv.lines('relp')).map((m) => [m.pri, m.msg])).toEqual(all);
    expect(parseJsonLines(srv.lines('tcp')).map((m) => [m.pri, m.msg])).toEqual(all.filter(([, msg]) => msg !== 'just a note'));
    expect(await lf.stop()).toEqual({ code: 0, signal: null });
  });

  it('joins a long line memlogd stored in pieces, cuts it at the destination\'s maximum with a marker, and reports gaps', async () => {
    const d = track(await startDaemon(['-max-line-len', '64', '-max-lines', '20']));
    const srv = await rsyslog({ dir: tmpDir(), tcp: 0, relp: 0 });
    const long = Array.from({ length: 30 }, (_, i) => `${i}`.padStart(4, '0') + 'x'.repeat(16)).join(''); // 600 bytes, 10 pieces
    // 30 lines: the first 10 (and memlogd started) are evicted before logforward comes
    handOff(d.log, 'old', Array.from({ length: 30 }, (_, i) => `old ${i}\n`).join(''));
    handOff(d.log, 'long', `${long}\n`);
    const lf = track(startLogforward(['-socket', d.query, '--no-state',
      `relp://127.0.0.2:${srv.ports.relp}?maxsize=4k`, `tcp://127.0.0.1:${srv.ports.tcp}?maxsize=480`]));
    await waitFor(() => srv.lines('relp').some((l) => l.includes('"appname":"long"')) && srv.lines('tcp').some((l) => l.includes('"appname":"long"')), 'the long line');
    const relp = parseJsonLines(srv.lines('relp'));
    // what memlogd evicted before logforward came is one gap message; with the entries it covers every seq
    const gaps = relp.filter((m) => m.msgid === 'gap');
    expect(gaps).toHaveLength(1);
    expect(gaps[0]).toMatchObject({ appname: 'memlogd', pri: '12' });
    const g = /^gap: (\d+) entries \(seq (\d+)-(\d+)\) evicted by memlogd before logforward could send them; by source: /.exec(gaps[0].msg)!;
    // whose they were: the old lines (and memlogd's start note), adding up to the count
    const whose = gapSourcesV1(gaps[0].msg)!;
    expect(whose.old).toBeGreaterThan(0);
    expect(Object.values(whose).reduce((a, b) => a + b, 0)).toBe(Number(g[1]));
    expect(gaps[0].sd).toContain(` from="${g[2]}" to="${g[3]}" count="${g[1]}" reason="evicted"]`);
    const seen = new Set<number>();
    for (const m of relp) {
      if (m.msgid === 'gap') for (let s = Number(g[2]); s <= Number(g[3]); s++) seen.add(s);
      else {
        const r = /seq="(\d+)"(?: last="(\d+)")?/.exec(m.sd)!;
        for (let s = Number(r[1]); s <= Number(r[2] ?? r[1]); s++) seen.add(s);
      }
    }
    expect(seen.size).toBe(41); // memlogd started, 30 old lines, 10 pieces
    expect(Math.max(...seen)).toBe(40);
    const joined = relp.find((m) => m.appname === 'long')!;
    expect(joined.msg).toBe(long);
    expect(joined.sd).toMatch(/seq="(\d+)" last="(\d+)"\]$/);
    const [, a, b] = /seq="(\d+)" last="(\d+)"/.exec(joined.sd)!;
    expect(Number(b) - Number(a)).toBe(9);
    const cut = parseJsonLines(srv.lines('tcp')).find((m) => m.appname === 'long')!;
    const m = /^(.*) \[logforward: cut, (\d+) bytes not sent\]$/.exec(cut.msg)!;
    expect(long.startsWith(m[1])).toBe(true);
    expect(m[1].length + Number(m[2])).toBe(long.length);
    expect(await lf.stop()).toEqual({ code: 0, signal: null });
  });

  it('TLS: refuses a server its CA did not sign, and sends a client certificate when the server asks', async () => {
    const d = track(await startDaemon());
    handOff(d.log, 'secret', 'for the right server only\n');
    const srv = await rsyslog({ dir: tmpDir(), certs: certs.dir, tls: 0, relpTls: 0, tlsAuthMode: 'x509/certvalid', relpAuthMode: 'certvalid' });
    const p = srv.ports;
    const c = (f: string) => path.join(certs.dir, f);
    const wrong = track(startLogforward(['-socket', d.query, '--no-state',
      `tls://127.0.0.4:${p.tls}?ca=${c('other-ca.pem')}&cert=${c('client.pem')}&key=${c('client-key.pem')}`,
      `relp+tls://127.0.0.3:${p.relpTls}?ca=${c('other-ca.pem')}&cert=${c('client.pem')}&key=${c('client-key.pem')}`]));
    await waitStderr(wrong, /tls:\/\/127\.0\.0\.4:\d+: cannot connect: TLS: .*\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)\); retrying/, 'the tls refusal');
    await waitStderr(wrong, /relp\+tls:\/\/127\.0\.0\.3:\d+: cannot connect: TLS: .*\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)\); retrying/, 'the relp+tls refusal');
    await sleep(1500); // retries with backoff: one line each, nothing sent
    expect(wrong.stderr().match(/cannot connect/g)).toHaveLength(2);
    expect(srv.lines('tls')).toEqual([]);
    expect(srv.lines('relpTls')).toEqual([]);
    expect(await wrong.stop()).toEqual({ code: 0, signal: null });
    // the right CA, and the client certificate the server demands (x509/certvalid)
    const right = track(startLogforward(['-socket', d.query, '--no-state',
      `tls://127.0.0.4:${p.tls}?ca=${c('ca.pem')}&cert=${c('client.pem')}&key=${c('client-key.pem')}`,
      `relp+tls://127.0.0.3:${p.relpTls}?ca=${c('ca.pem')}&cert=${c('client.pem')}&key=${c('client-key.pem')}`]));
    await waitFor(() => srv.lines('tls').length >= 2 && srv.lines('relpTls').length >= 2, 'the messages over TLS');
    expect(parseJsonLines(srv.lines('tls'))[1].msg).toBe('for the right server only');
    expect(parseJsonLines(srv.lines('relpTls'))[1].msg).toBe('for the right server only');
    expect(await right.stop()).toEqual({ code: 0, signal: null });
  });

  it('follows memlogd into a new instance: a restarted gap message, then what the new instance holds', async () => {
    const sockDir = tmpDir();
    let d = await startDaemon([], sockDir);
    const first = d.proc;
    defer(() => first.kill('SIGKILL'));
    const srv = await rsyslog({ dir: tmpDir(), relp: 0 });
    const state = path.join(tmpDir(), 'lf.state');
    const lf = track(startLogforward(['-socket', d.query, '--state', state, `relp://127.0.0.2:${srv.ports.relp}`]));
    handOff(d.log, 'svc', 'before\n');
    await waitFor(() => srv.lines('relp').length >= 2, 'the first instance\'s lines');
    d.proc.kill('SIGTERM'); // (stop() would remove the socket directory too)
    await exited(d.proc);
    await waitStderr(lf, /lost the connection to memlogd/, 'the loss of memlogd');
    d = track(await startDaemon([], sockDir));
    handOff(d.log, 'svc', 'after\n');
    await waitFor(() => srv.lines('relp').length >= 5, 'the new instance\'s lines');
    const got = parseJsonLines(srv.lines('relp'));
    expect(got.map((m) => [m.appname, m.msgid, m.msg.replace(/\(was .*\)/, '(was …)')])).toEqual([
      ['memlogd', '-', 'memlogd started'], ['svc', '-', 'before'],
      ['memlogd', 'gap', 'gap: memlogd restarted (was …); lines it held but logforward had not sent yet are lost'],
      ['memlogd', '-', 'memlogd started'], ['svc', '-', 'after'],
    ]);
    expect(got[2].sd).toMatch(/reason="restarted" previous="[0-9a-f]+:1"\]$/);
    expect(await lf.stop()).toEqual({ code: 0, signal: null });
  });

  it('says when a server is down, waits without using CPU, and delivers once it is up; other destinations keep flowing', async () => {
    const d = track(await startDaemon());
    const dir = tmpDir();
    let srv = await rsyslog({ dir, relp: 0 });
    const relpPort = srv.ports.relp!;
    await srv.stop();
    const other = await rsyslog({ dir: tmpDir(), tcp: 0 });
    const lf = track(startLogforward(['-socket', d.query, '--no-state', `relp://127.0.0.2:${relpPort}`, `tcp://127.0.0.1:${other.ports.tcp}`]));
    await waitStderr(lf, /relp:\/\/127\.0\.0\.2:\d+: cannot connect: ECONNREFUSED; retrying/, 'the refusal');
    handOff(d.log, 'svc', 'while the relp server is down\n');
    await waitFor(() => other.lines('tcp').length >= 2, 'the tcp destination flowing');
    const cpu0 = procStat(lf.proc.pid!).cpuSec;
    await sleep(2000);
    expect(procStat(lf.proc.pid!).cpuSec - cpu0).toBeLessThan(0.1); // timers, no polling
    expect(lf.stderr().match(/cannot connect/g)).toHaveLength(1); // one line per state change
    srv = await rsyslog({ dir, relp: relpPort });
    await waitFor(() => srv.lines('relp').length >= 2, 'the relp server to get everything', 30_000);
    expect(parseJsonLines(srv.lines('relp')).map((m) => m.msg)).toEqual(['memlogd started', 'while the relp server is down']);
    expect(await lf.stop()).toEqual({ code: 0, signal: null });
  });
});
