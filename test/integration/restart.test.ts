// Graceful restarts (SIGUSR2, memlogd --restart): the successor takes the store, sockets, inputs
// and readers over, and no reader sees anything: every line exactly once, in order per source.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../support/cleanup.js';
import { BIN, ROOT, dump, exited, runBin, startDaemon, waitFor, type RunningDaemon } from '../support/helpers.js';
import { linesOf, startLogwrite } from '../support/logwrite.js';

const { track, tmpDir, defer } = useCleanups();
const REFERENCE_LOGREAD = path.resolve(ROOT, '../shared/reference/bin/logread');

/**
 * Writers in a child process: `sources` pipes handed to memlogd as w<i>.out, each getting `burst`
 * lines every `everyMs` until its stdin closes; then it prints how many lines each wrote.
 */
function startWriters(d: RunningDaemon, sources: number, burst: number, everyMs: number): { proc: ChildProcess; done: () => Promise<number[]> } {
  const script = `
    import fs from 'node:fs';
    import { handOffPipe } from ${JSON.stringify(path.join(ROOT, 'dist/lib/client/handoff.js'))};
    const fds = Array.from({ length: ${sources} }, (_, i) => handOffPipe(${JSON.stringify(d.log)}, 'w' + i + '.out'));
    const n = fds.map(() => 0);
    let stop = false;
    process.stdin.on('end', () => (stop = true)).resume();
    const tick = () => {
      for (let i = 0; i < fds.length; i++) {
        let s = '';
        for (let k = 0; k < ${burst}; k++) s += 'w' + i + ' ' + (n[i]++) + '\\n';
        fs.writeSync(fds[i], s);
      }
      if (stop) {
        for (const fd of fds) fs.closeSync(fd);
        process.stdout.write(JSON.stringify(n) + '\\n');
      } else setTimeout(tick, ${everyMs});
    };
    tick();`;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.on('data', (x) => (out += x));
  return {
    proc,
    done: async () => {
      proc.stdin!.end();
      await exited(proc);
      return JSON.parse(out) as number[];
    },
  };
}

/** A v1 dump+follow reader on the raw socket (what the reference logread does), collecting messages. */
function rawFollower(query: string): { lines: string[]; sock: net.Socket } {
  const lines: string[] = [];
  const sock = net.createConnection({ path: query });
  let rest = '';
  sock.on('connect', () => sock.write(Buffer.from([2])));
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => {
    const parts = (rest + d).split('\n');
    rest = parts.pop()!;
    for (const p of parts) lines.push((JSON.parse(p) as { source: string; msg: string }).source + ' ' + JSON.parse(p).msg);
  });
  sock.on('error', () => {});
  return { lines, sock };
}

/** Every line of each source exactly once, in order: msgs are `w<i> <n>`. */
function checkExactlyOnce(what: string, msgs: string[], written: number[]): void {
  const next = written.map(() => 0);
  for (const m of msgs) {
    const x = /^w(\d+)(?:\.out)? w\d+ (\d+)$|^w(\d+) (\d+)$/.exec(m);
    if (!x) continue;
    const i = Number(x[1] ?? x[3]);
    const n = Number(x[2] ?? x[4]);
    expect(n, `${what}: source w${i} line ${n} (expected ${next[i]})`).toBe(next[i]);
    next[i]++;
  }
  expect(next, what).toEqual(written);
}

const pidOf = async (d: RunningDaemon): Promise<number> => {
  const r = await runBin('logread', ['-socket', d.query, '--stats', '--json']);
  return JSON.parse(r.stdout).pid as number;
};

describe('graceful restart', () => {
  it('20 restarts under 10 writing sources: the follower, logwrite and logread -F get every line once, in order', async () => {
    const d = track(await startDaemon(['-max-lines', '2000000', '--max-bytes', '200000000']));
    const out = tmpDir();
    const follower = rawFollower(d.query);
    defer(() => follower.sock.destroy());
    const lw = track(startLogwrite(['-socket', d.query, '-log-dir', out, '-max-log-size', String(1 << 30)]));
    const ourLogread = spawn(process.execPath, [BIN('logread'), '-socket', d.query, '-F'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let ours = '';
    ourLogread.stdout!.on('data', (x) => (ours += x));
    defer(() => ourLogread.kill());
    let theirs = '';
    if (fs.existsSync(REFERENCE_LOGREAD)) {
      const ref = spawn(REFERENCE_LOGREAD, ['-socket', d.query, '-F'], { stdio: ['ignore', 'pipe', 'ignore'] });
      ref.stdout!.on('data', (x) => (theirs += x));
      defer(() => ref.kill());
    }
    await new Promise((r) => setTimeout(r, 500));
    const writers = startWriters(d, 10, 20, 10);
    const pids = [d.proc.pid!];
    for (let k = 0; k < 20; k++) {
      await new Promise((r) => setTimeout(r, 150));
      const pid = pids[pids.length - 1];
      process.kill(pid, 'SIGUSR2');
      const next = await waitFor(async () => {
        const p = await pidOf(d).catch(() => pid);
        return p !== pid ? p : null;
      }, `restart ${k + 1}`, 60_000);
      pids.push(next);
    }
    const written = await writers.done();
    const total = written.reduce((a, b) => a + b, 0);
    // every line reached every reader
    await waitFor(() => follower.lines.filter((l) => /^w\d+\.out /.test(l)).length >= total, 'the follower to have every line', 120_000);
    checkExactlyOnce('v1 follower', follower.lines.filter((l) => /^w\d+\.out /.test(l)).map((l) => l.split(' ').slice(1).join(' ')), written);
    const textOf = (t: string) => t.split('\n').filter((l) => /;w\d+\.out;/.test(l)).map((l) => l.split(';')[2]);
    await waitFor(() => textOf(ours).length >= total, 'logread -F to have every line', 120_000);
    checkExactlyOnce('logread -F', textOf(ours), written);
    if (fs.existsSync(REFERENCE_LOGREAD)) {
      await waitFor(() => textOf(theirs).length >= total, 'the reference logread -F to have every line', 120_000);
      checkExactlyOnce('reference logread -F', textOf(theirs), written);
    }
    const fileMsgs = () => Array.from({ length: 10 }, (_, i) => linesOf(out, `w${i}.out`).map((l) => l.split(' ').slice(2).join(' '))).flat();
    await waitFor(() => fileMsgs().length >= total, 'logwrite to have every line', 120_000);
    for (let i = 0; i < 10; i++) {
      const w = written.map((n, j) => (j === i ? n : 0));
      checkExactlyOnce(`logwrite w${i}.out`, linesOf(out, `w${i}.out`).map((l) => l.split(' ').slice(2).join(' ')), w);
    }
    expect(lw.stderr()).not.toMatch(/restarted|gap|does not follow/);
    // the daemon's own account: one note per restart, and the same instance throughout
    const notes = (await dump(d.query)).filter((e) => e.source === 'memlogd').map((e) => e.msg);
    expect(notes.filter((m) => m.startsWith('memlogd restarted gracefully'))).toHaveLength(20);
    expect(new Set(pids).size).toBe(21);
    // the last one stops as any memlogd: SIGTERM, sockets unlinked
    process.kill(pids[20], 'SIGTERM');
    await waitFor(() => !fs.existsSync(d.query), 'the sockets to be removed');
  }, 600_000);

  it('memlogd --restart asks for it and says who serves now; a successor that cannot start leaves the old one serving', async () => {
    // a copy of the binary next to the real one (so it finds the addon), to break it like a bad upgrade
    const copy = path.join(ROOT, 'dist/cmd', `memlogd-restart-test-${process.pid}.js`);
    fs.copyFileSync(BIN('memlogd'), copy);
    defer(() => fs.rmSync(copy, { force: true }));
    const dir = tmpDir();
    const log = path.join(dir, 'l.sock');
    const query = path.join(dir, 'q.sock');
    const p = spawn(process.execPath, [copy, '-socket-log', log, '-socket-query', query], { stdio: 'ignore' });
    defer(async () => {
      const pid = await pidOf({ query } as RunningDaemon).catch(() => null);
      if (pid) process.kill(pid, 'SIGTERM');
      p.kill('SIGTERM');
    });
    await waitFor(() => fs.existsSync(query), 'memlogd');
    await waitFor(async () => (await pidOf({ query } as RunningDaemon).catch(() => 0)) > 0, 'memlogd to answer');
    const first = await pidOf({ query } as RunningDaemon);

    fs.writeFileSync(copy, "throw new Error('a broken upgrade');\n");
    const r = await runBin('memlogd', ['--restart', '-socket-query', query], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/graceful restart failed, still serving as pid \d+: the successor did not start/);
    expect(await pidOf({ query } as RunningDaemon)).toBe(first);

    fs.copyFileSync(BIN('memlogd'), copy);
    const ok = await runBin('memlogd', ['--restart', '-socket-query', query], { timeoutMs: 60_000 });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(new RegExp(`restarted gracefully, pid ${first} -> \\d+`));
    expect(await pidOf({ query } as RunningDaemon)).not.toBe(first);
  }, 180_000);
});
