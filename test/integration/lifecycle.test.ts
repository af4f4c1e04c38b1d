// Starting and stopping: stale sockets, a second daemon, signals, -daemonize, fd leaks.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as native from '../../lib/native/index.js';
import {
  BIN, dump, exited, fdCount, Follow, handOff, queryRaw, runBin, shortTmp, startDaemon, waitFor, waitForEntry,
} from '../support/helpers.js';

describe('lifecycle', () => {
  it('replaces stale socket files left by a crashed run', async () => {
    const dir = shortTmp();
    const first = await startDaemon([], dir);
    first.proc.kill('SIGKILL');
    await exited(first.proc);
    expect(fs.existsSync(first.log) && fs.existsSync(first.query)).toBe(true); // the crash left them
    const second = await startDaemon([], dir);
    handOff(second.log, 'after-crash', 'works\n');
    await waitForEntry(second.query, (e) => e.msg === 'works', 'line after restart');
    expect((await second.stop()).code).toBe(0);
  });

  it('refuses to start on sockets a live daemon serves, and leaves them alone', async () => {
    const d = await startDaemon();
    const r = await runBin('memlogd', ['-socket-log', d.log, '-socket-query', d.query]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/another memlogd is already serving/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect((await dump(d.query)).length).toBeGreaterThan(0); // the first one still serves
    expect((await d.stop()).code).toBe(0);
  });

  it('refuses a socket path that is a regular file', async () => {
    const dir = shortTmp();
    fs.writeFileSync(path.join(dir, 'log.sock'), 'not a socket');
    const r = await runBin('memlogd', ['-socket-log', path.join(dir, 'log.sock'), '-socket-query', path.join(dir, 'q.sock')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/not a socket/);
    expect(fs.readFileSync(path.join(dir, 'log.sock'), 'utf8')).toBe('not a socket');
    fs.rmSync(dir, { recursive: true });
  });

  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    it(`${sig}: closes everything, unlinks both sockets, exits 0`, async () => {
      const d = await startDaemon();
      const f = new Follow(d.query, 2);
      await f.until(1);
      const [r, w] = native.pipe();
      const { sendFds } = await import('../../lib/client/handoff.js');
      sendFds(d.log, 'open', [r]);
      native.close(r);
      fs.writeSync(w, 'open pipe\n');
      await f.until(2);
      d.proc.kill(sig);
      const res = await exited(d.proc);
      expect(res).toEqual({ code: 0, signal: null });
      expect(fs.existsSync(d.log)).toBe(false);
      expect(fs.existsSync(d.query)).toBe(false);
      await waitFor(() => f.closed, 'follower to be disconnected');
      expect(() => fs.writeSync(w, 'x')).toThrow(expect.objectContaining({ code: 'EPIPE' }));
      native.close(w);
      fs.rmSync(d.dir, { recursive: true, force: true });
    });
  }

  it('-daemonize returns once both sockets accept, and the daemon runs on', async () => {
    const dir = shortTmp();
    const log = path.join(dir, 'log.sock');
    const query = path.join(dir, 'q.sock');
    const r = await runBin('memlogd', ['-daemonize', '-socket-log', log, '-socket-query', query, '-max-lines', '77']);
    expect(r.code).toBe(0);
    // no waiting: the sockets accept right now
    const rows = await dump(query);
    expect(rows[0].msg).toBe('memlogd started');
    handOff(log, 'bg', 'hello daemon\n');
    await waitForEntry(query, (e) => e.msg === 'hello daemon', 'line in background daemon');
    // find and stop the background daemon: it unlinks its sockets
    const pid = Number(fs.readdirSync('/proc').find((p) => /^\d+$/.test(p) && (() => {
      try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(query); } catch { return false; }
    })()));
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGTERM');
    await waitFor(() => !fs.existsSync(query) && !fs.existsSync(log), 'background daemon to clean up');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('-fd-log / -fd-query serve sockets inherited from a parent, and unlink them at exit', async () => {
    const { bindSocket } = await import('../../lib/daemon/socket-file.js');
    const dir = shortTmp();
    const log = bindSocket('dgram', path.join(dir, 'log.sock'));
    const query = bindSocket('stream', path.join(dir, 'q.sock'));
    const p = spawn(process.execPath, [BIN('memlogd'), '-fd-log', '3', '-fd-query', '4'], {
      stdio: ['ignore', 'ignore', 'pipe', log.fd, query.fd],
    });
    native.close(log.fd);
    native.close(query.fd);
    let err = '';
    p.stderr!.on('data', (x) => (err += x));
    await waitFor(() => err.includes('serving fd 3 (logging) and fd 4 (query)'), 'memlogd on inherited fds');
    handOff(log.path, 'inherited', 'via fd 3\n');
    await waitForEntry(query.path, (e) => e.msg === 'via fd 3', 'line through inherited sockets');
    p.kill('SIGTERM');
    expect(await exited(p)).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(log.path) || fs.existsSync(query.path)).toBe(false);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('leaks no fd after 1,000 fd handoffs and 1,000 query connections', async () => {
    const d = await startDaemon(['-max-lines', '100000']);
    const pid = d.proc.pid!;
    await dump(d.query);
    const base = fdCount(pid);
    for (let i = 0; i < 1000; i++) handOff(d.log, `src${i % 10}`, `handoff ${i}\n`);
    await waitFor(async () => (await dump(d.query)).filter((e) => e.msg.startsWith('handoff ')).length === 1000, '1000 lines');
    // 1,000 query connections: dumps, followers that hang up, silent clients, bad modes
    for (let i = 0; i < 1000; i += 4) {
      await Promise.all([
        queryRaw(d.query, 0),
        queryRaw(d.query, 9),
        new Promise<void>((res) => {
          const c = net.createConnection({ path: d.query }, () => { c.destroy(); res(); });
        }),
        new Promise<void>((res) => {
          // a follower (dump, then follow) that hangs up mid-stream
          const c = net.createConnection({ path: d.query }, () => c.write(Buffer.from([2])));
          c.once('data', () => { c.destroy(); res(); });
        }),
      ]);
    }
    await waitFor(() => fdCount(pid) <= base, `fd count back to ${base} (now ${fdCount(pid)})`);
    expect(fdCount(pid)).toBeLessThanOrEqual(base);
    expect((await d.stop()).code).toBe(0);
  });
});
