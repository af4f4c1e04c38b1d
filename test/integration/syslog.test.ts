// The syslog input (--socket-syslog) against a real memlogd: util-linux's logger (RFC 3164 and
// 5424 over -u), raw datagrams from Node (malformed, long, multi-line, truncated, with fds), other
// users, the per-uid name cap, the names the logging socket may not use, a graceful restart and a
// crash of a supervised memlogd.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { handOffPipe } from '../../lib/client/handoff.js';
import { SYSLOG_MAX_DATAGRAM } from '../../lib/daemon/syslog-input.js';
import * as native from '../../lib/native/index.js';
import { useCleanups } from '../support/cleanup.js';
import { BIN, runBin, startDaemon, v2Request, waitFor, type RunningDaemon } from '../support/helpers.js';

const { track, tmpDir, defer, fds } = useCleanups();

const hasLogger = spawnSync('logger', ['--help']).status === 0;

type Rec = Record<string, unknown>;

async function start(args: string[] = []): Promise<RunningDaemon & { syslog: string }> {
  const dir = tmpDir();
  fs.chmodSync(dir, 0o755); // other users reach the socket through it
  const d = track(await startDaemon(['--socket-syslog', path.join(dir, 'dev-log'), ...args], dir));
  return { ...d, syslog: path.join(dir, 'dev-log') };
}

/** The entries (not memlogd's own) once pred holds for them. */
async function entries(query: string, pred: (es: Rec[]) => boolean, what: string): Promise<Rec[]> {
  return waitFor(async () => {
    const es = (await v2Request(query, { mode: 'dump', exclude: ['memlogd'] })).filter((r) => r.type === undefined);
    return pred(es) ? es : null;
  }, what);
}

async function notes(query: string): Promise<string[]> {
  return (await v2Request(query, { mode: 'dump', sources: ['memlogd'] })).filter((r) => r.type === undefined).map((r) => String(r.msg));
}

/** A datagram socket connected to path (a sender as syslog(3) opens one). */
function sender(p: string): number {
  const fd = fds.add(native.socketDgram());
  native.connect(fd, p);
  return fd;
}

function logger(args: string[], opts: { uid?: number; gid?: number } = {}) {
  return new Promise<{ code: number | null; pid: number; stderr: string }>((resolve) => {
    const p = spawn('logger', args, { stdio: ['ignore', 'ignore', 'pipe'], ...opts });
    let stderr = '';
    p.stderr!.on('data', (x) => (stderr += x));
    p.on('close', (code) => resolve({ code, pid: p.pid!, stderr }));
  });
}

const stat = async (query: string, name: string) => {
  const r = await runBin('logread', ['-socket', query, '--stats', '--json']);
  return (JSON.parse(r.stdout).sources as Rec[]).find((s) => s.name === name)!;
};

describe.skipIf(!hasLogger)('syslog input with util-linux logger', () => {
  it('RFC 3164 and RFC 5424 over -u: the program names the source, PRI gives severity and facility, the kernel the pid and uid', async () => {
    const d = await start();
    expect(fs.statSync(d.syslog).mode & 0o777).toBe(0o666);
    const a = await logger(['-u', d.syslog, '--rfc3164', '-t', 'backup', '-p', 'daemon.warning', 'disk almost full: 93%']);
    expect(a.code, a.stderr).toBe(0);
    const b = await logger(['-u', d.syslog, '--rfc5424', '-t', 'web', '--msgid', 'REQ', '-p', 'local3.err', 'upstream timed out']);
    expect(b.code, b.stderr).toBe(0);
    const es = await entries(d.query, (x) => x.length >= 2, 'both messages');
    expect(es[0]).toMatchObject({ source: 'syslog.backup', severity: 4, facility: 3, msg: 'disk almost full: 93%' });
    expect(es[1]).toMatchObject({ source: 'syslog.web', severity: 3, facility: 19 });
    // 5424's MSGID and structured data stay with the text (logger adds timeQuality)
    expect(es[1].msg).toMatch(/^REQ \[timeQuality [^\]]*\] upstream timed out$/);
    expect(await stat(d.query, 'syslog.backup')).toMatchObject({ pid: a.pid, uid: 0, severities: [0, 0, 0, 0, 1, 0, 0, 0] });
    // v1 output is unchanged: no severity in it
    const v1 = (await runBin('logread', ['-socket', d.query])).stdout;
    expect(v1).toMatch(/;syslog\.backup;disk almost full: 93%\n/);
    // logread -p: err and more severe, or a range
    const errs = await runBin('logread', ['-socket', d.query, '-p', 'err', '--json']);
    expect(errs.stdout.trim().split('\n').map((l) => JSON.parse(l).source)).toEqual(['syslog.web']);
    const range = await runBin('logread', ['-socket', d.query, '-p', 'warning..notice', '--json']);
    expect(range.stdout.trim().split('\n').map((l) => JSON.parse(l).source)).toEqual(['memlogd', 'syslog.backup']);
    expect((await runBin('logread', ['-socket', d.query, '-p', 'loud'])).code).toBe(2);
  });

  it('any local user may log (mode 0666); the uid recorded is the one the kernel saw, whatever the message claims', async () => {
    const d = await start();
    const r = await logger(['-u', d.syslog, '-t', 'cron', '--id=1', 'claims to be pid 1'], { uid: 65534, gid: 65534 });
    expect(r.code, r.stderr).toBe(0);
    await entries(d.query, (x) => x.length >= 1, 'the message');
    expect(await stat(d.query, 'syslog.cron')).toMatchObject({ uid: 65534, pid: r.pid });
  });
});

describe('syslog input, raw datagrams', () => {
  it('malformed messages are kept as they came; multi-line ones become one entry per line; long ones continuation pieces', async () => {
    const d = await start(['--max-line-len', '64']);
    const s = sender(d.syslog);
    native.sendmsg(s, Buffer.from('no priority, no tag'));
    native.sendmsg(s, Buffer.from('<999>not a priority'));
    native.sendmsg(s, Buffer.from('<11>multi: first\nsecond\n'));
    const long = 'x'.repeat(150);
    native.sendmsg(s, Buffer.from(`<14>long: ${long}`));
    native.sendmsg(s, Buffer.from('<14>empty: '));
    const es = await entries(d.query, (x) => x.length >= 8, 'all of them');
    expect(es.map((e) => [e.source, e.msg, e.partial ?? false])).toEqual([
      ['syslog.uid0', 'no priority, no tag', false],
      ['syslog.uid0', '<999>not a priority', false],
      ['syslog.multi', 'first', false],
      ['syslog.multi', 'second', false],
      ['syslog.long', 'x'.repeat(64), true],
      ['syslog.long', 'x'.repeat(64), true],
      ['syslog.long', 'x'.repeat(22), false],
      ['syslog.empty', '', false],
    ]);
    // no PRI: user.notice (RFC 3164's default)
    expect([es[0].severity, es[0].facility]).toEqual([5, 1]);
    expect(es.slice(2, 4).map((e) => e.severity)).toEqual([3, 3]);
  });

  it('a datagram the kernel cut is kept as far as it came, with a note; fds sent along are closed', async () => {
    const d = await start();
    const s = sender(d.syslog);
    // big enough to be cut: raise the send buffer (root may force it past net.core.wmem_max)
    native.setSendBuffer(s, 4 * SYSLOG_MAX_DATAGRAM);
    const big = Buffer.concat([Buffer.from('<14>big: '), Buffer.alloc(SYSLOG_MAX_DATAGRAM, 0x61)]);
    expect(native.sendmsg(s, big)).toBe(big.length);
    const [r, w] = fds.add(native.pipe());
    native.sendmsg(s, Buffer.from('<14>withfd: here is an fd'), [w]);
    fds.close(w);
    const es = await entries(d.query, (x) => x.some((e) => e.source === 'syslog.withfd'), 'both');
    const kept = es.filter((e) => e.source === 'syslog.big').map((e) => String(e.msg)).join('');
    expect(kept).toBe('a'.repeat(SYSLOG_MAX_DATAGRAM - '<14>big: '.length));
    const n = await notes(d.query);
    expect(n.some((m) => m.includes(`was ${big.length} bytes: kept the first ${SYSLOG_MAX_DATAGRAM}`))).toBe(true);
    expect(n.some((m) => /carried 1 fd\(s\): closed them/.test(m))).toBe(true);
    // memlogd closed the write end it received: the pipe reads as ended
    native.setNonBlocking(r, true);
    expect(native.read(r, Buffer.alloc(8))).toBe(0);
  });

  it('one uid cannot multiply names: past the cap its messages share syslog.uid<N>, the program named in the text', async () => {
    const d = await start(['--syslog-idents-per-uid', '3']);
    const s = sender(d.syslog);
    for (let i = 0; i < 6; i++) native.sendmsg(s, Buffer.from(`<14>prog${i}: message ${i}`));
    native.sendmsg(s, Buffer.from('<14>prog1: an old name still works'));
    const es = await entries(d.query, (x) => x.length >= 7, 'every message');
    expect(es.map((e) => [e.source, e.msg])).toEqual([
      ['syslog.prog0', 'message 0'], ['syslog.prog1', 'message 1'], ['syslog.prog2', 'message 2'],
      ['syslog.uid0', 'prog3: message 3'], ['syslog.uid0', 'prog4: message 4'], ['syslog.uid0', 'prog5: message 5'],
      ['syslog.prog1', 'an old name still works'],
    ]);
    expect((await notes(d.query)).filter((m) => m.includes('as 3 programs'))).toHaveLength(1);
  });

  it('the logging socket may not use syslog. names (nor pose as a syslog program); its fds are closed', async () => {
    const d = await start();
    const w = handOffPipe(d.log, 'syslog.sshd');
    // memlogd closed its copy: with ours closed too, the pipe has no reader and a write fails
    await waitFor(async () => (await notes(d.query)).some((m) => /refused 1 fd\(s\) for source "syslog\.sshd".*syslog socket's/.test(m)), 'the refusal');
    expect(() => fs.writeSync(w, 'x')).toThrow(/EPIPE/);
    native.close(w);
  });

  it('a flood from one program leaves the others their share of the store', async () => {
    const d = await start(['--max-lines', '200']);
    const loud = sender(d.syslog);
    const quiet = sender(d.syslog);
    for (let i = 0; i < 10; i++) native.sendmsg(quiet, Buffer.from(`<14>quiet: q${i}`));
    let sent = 0;
    while (sent < 5000) {
      if (native.sendmsg(loud, Buffer.from(`<14>loud: l${sent}`)) === null) await new Promise((r) => setImmediate(r));
      else sent++;
    }
    const es = await entries(d.query, (x) => x.some((e) => e.msg === 'l4999'), 'the flood');
    expect(es.filter((e) => e.source === 'syslog.quiet').map((e) => e.msg)).toEqual([...Array(10).keys()].map((i) => `q${i}`));
  });
});

describe('syslog socket across restarts', () => {
  it('a graceful restart hands the socket over: same file, nothing lost, the name cap remembered', async () => {
    const d = await start(['--syslog-idents-per-uid', '2']);
    const ino = fs.statSync(d.syslog).ino;
    const s = sender(d.syslog);
    native.sendmsg(s, Buffer.from('<14>a: before'));
    native.sendmsg(s, Buffer.from('<14>b: before'));
    await entries(d.query, (x) => x.length >= 2, 'before');
    const r = await runBin('memlogd', ['--restart', '-socket-query', d.query], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    // the same socket, so the sender's connection still works
    native.sendmsg(s, Buffer.from('<14>c: after'));
    native.sendmsg(s, Buffer.from('<14>a: after'));
    const es = await entries(d.query, (x) => x.length >= 4, 'after');
    expect(es.map((e) => [e.source, e.msg])).toEqual([
      ['syslog.a', 'before'], ['syslog.b', 'before'], ['syslog.uid0', 'c: after'], ['syslog.a', 'after'],
    ]);
    expect(fs.statSync(d.syslog).ino).toBe(ino);
    await d.stop();
    expect(fs.existsSync(d.syslog)).toBe(false);
  }, 90_000);

  it('-daemonize: the supervisor holds the socket through a crash of memlogd; messages sent meanwhile arrive', async () => {
    const dir = tmpDir();
    const [log, query, syslog] = ['l.sock', 'q.sock', 'dev-log'].map((f) => path.join(dir, f));
    const r = spawnSync(process.execPath, [BIN('memlogd'), '-daemonize', '-socket-log', log, '-socket-query', query, '--socket-syslog', syslog]);
    expect(r.status, r.stderr?.toString()).toBe(0);
    defer(async () => {
      const pid = Number(spawnSync('pgrep', ['-o', '-f', `socket-query ${query}`]).stdout.toString().trim());
      if (pid) process.kill(pid, 'SIGTERM');
      await waitFor(() => !spawnSync('pgrep', ['-f', `socket-query ${query}`]).stdout.toString().trim(), 'memlogd to stop');
    });
    const s = sender(syslog);
    native.sendmsg(s, Buffer.from('<14>app: before the crash'));
    await entries(query, (x) => x.length >= 1, 'the first message');
    const pidOf = async () => JSON.parse((await runBin('logread', ['-socket', query, '--stats', '--json'])).stdout).pid as number;
    const before = await pidOf();
    process.kill(before, 'SIGKILL');
    await waitFor(() => !fs.existsSync(`/proc/${before}/stat`) || fs.readFileSync(`/proc/${before}/stat`, 'utf8').split(' ')[2] === 'Z', 'the kill');
    // sent while no memlogd serves: queued in the socket the supervisor keeps open
    for (let i = 0; i < 5; i++) expect(native.sendmsg(s, Buffer.from(`<14>app: during ${i}`))).not.toBeNull();
    const es = await entries(query, (x) => x.filter((e) => String(e.msg).startsWith('during')).length >= 5, 'the messages sent during the outage');
    expect(es.map((e) => e.msg)).toEqual(['during 0', 'during 1', 'during 2', 'during 3', 'during 4']);
    expect(await pidOf()).not.toBe(before);
  }, 90_000);
});
