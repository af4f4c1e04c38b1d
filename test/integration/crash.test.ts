// Crashes of a supervised memlogd (-daemonize): the supervisor holds the listening sockets and a
// duplicate of every source fd, restarts memlogd, and hands everything back.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { handOffPipe } from '../../lib/client/handoff.js';
import * as native from '../../lib/native/index.js';
import { useCleanups } from '../support/cleanup.js';
import { BIN, ROOT, dump, exited, runBin, waitFor } from '../support/helpers.js';

const { tmpDir, defer } = useCleanups();

/** Starts a supervised memlogd (-daemonize) on sockets in dir; stopped (SIGTERM to the supervisor) after the test. */
async function daemonize(dir: string, outageMs: number, script = BIN('memlogd')): Promise<{ log: string; query: string; supervisor: () => number }> {
  const log = path.join(dir, 'l.sock');
  const query = path.join(dir, 'q.sock');
  const r = spawnSync(process.execPath, [script, '-daemonize', '-socket-log', log, '-socket-query', query, '--outage-ms', String(outageMs)]);
  expect(r.status, r.stderr?.toString()).toBe(0);
  const supervisor = () => Number(spawnSync('pgrep', ['-o', '-f', `socket-query ${query}`]).stdout.toString().trim());
  defer(async () => {
    const pid = supervisor();
    if (pid) process.kill(pid, 'SIGTERM');
    await waitFor(() => !spawnSync('pgrep', ['-f', `socket-query ${query}`]).stdout.toString().trim(), 'memlogd to stop');
  });
  return { log, query, supervisor };
}

async function servingPid(query: string): Promise<number> {
  const r = await runBin('logread', ['-socket', query, '--stats', '--json']);
  return JSON.parse(r.stdout).pid as number;
}

describe('crash (kill -9 of the serving memlogd)', () => {
  it('every line logexec producers write after the crash arrives once memlogd serves again; no EPIPE', async () => {
    const dir = tmpDir();
    // the outage bound is well beyond a restart on a loaded machine: this test is about no loss
    const d = await daemonize(dir, 60_000);
    // three producers: numbered lines with the time they were written, every 5 ms for 3 s
    const producers = [0, 1, 2].map((i) => spawn(process.execPath, [BIN('logexec'), '-n', `p${i}`, '-socket', d.log, '--',
      process.execPath, '-e', `let n = 0; const t = setInterval(() => { process.stdout.write('p${i} ' + (n++) + ' ' + Date.now() + '\\n'); if (n >= 600) clearInterval(t); }, 5);`],
    { stdio: ['ignore', 'pipe', 'pipe'] }));
    // logexec echoes what it logs: every line written, with the time it was written
    const echoed = producers.map((p) => {
      let o = '';
      p.stdout!.on('data', (x) => (o += x));
      return () => o.split('\n').filter(Boolean).map((l) => l.split(' ').map(Number));
    });
    const errs = producers.map((p) => {
      let e = '';
      p.stderr!.on('data', (x) => (e += x));
      return () => e;
    });
    await waitFor(async () => (await dump(d.query)).filter((e) => e.source === 'p0.out').length > 50, 'the producers to be logged');
    const before = await servingPid(d.query);
    process.kill(before, 'SIGKILL');
    // the crash is when the process is gone (a signal is delivered when its target next runs)
    await waitFor(() => !fs.existsSync(`/proc/${before}/stat`) || fs.readFileSync(`/proc/${before}/stat`, 'utf8').split(' ')[2] === 'Z', 'the kill');
    const killedAt = Date.now();
    await waitFor(async () => (await servingPid(d.query).catch(() => before)) !== before, 'memlogd to serve again');
    for (const p of producers) expect((await exited(p)).code).toBe(0);
    for (const e of errs) expect(e()).toBe(''); // no EPIPE, nothing dropped: logexec says nothing
    const es = await dump(d.query);
    for (const i of [0, 1, 2]) {
      const mine = es.filter((e) => e.source === `p${i}.out`).map((e) => e.msg.split(' ').map(Number));
      // what the new memlogd holds is one run of lines without a hole or a repeat, up to the last
      mine.forEach(([, n], k) => expect(n, `p${i} line ${k}`).toBe(mine[0][1] + k));
      expect(mine.at(-1)![1]).toBe(599);
      // and every line written after the crash is among them (the ones before it were read by the
      // memlogd that died, or not yet: those are held too)
      const missing = echoed[i]().filter(([, n, t]) => n < mine[0][1] && t > killedAt);
      expect(missing, `p${i}: lines written after the crash (at ${killedAt}) that are not held`).toEqual([]);
    }
    const notes = es.filter((e) => e.source === 'memlogd').map((e) => e.msg);
    expect(notes.some((m) => /memlogd restarted after a crash \(1 so far\): took up 6 inputs again from the supervisor/.test(m))).toBe(true);
  }, 120_000);

  it('a memlogd that cannot come back: the supervisor drains the pipes after the outage bound, no writer blocks, and the loss is reported', async () => {
    // a copy of the binary next to the real one (it finds the addon from there), to break it
    const copy = path.join(ROOT, 'dist/cmd', `memlogd-crash-test-${process.pid}.js`);
    fs.copyFileSync(BIN('memlogd'), copy);
    defer(() => fs.rmSync(copy, { force: true }));
    const dir = tmpDir();
    const d = await daemonize(dir, 1000, copy);
    const w = handOffPipe(d.log, 'busy.out');
    defer(() => native.close(w));
    fs.writeSync(w, 'before the crash\n');
    await waitFor(async () => (await dump(d.query)).some((e) => e.msg === 'before the crash'), 'the first line');
    fs.writeFileSync(copy, "throw new Error('memlogd cannot start');\n");
    process.kill(await servingPid(d.query), 'SIGKILL');
    // 1 MiB is 16 times what a pipe holds: these writes complete only because the supervisor drains
    const line = Buffer.from('x'.repeat(1023) + '\n');
    const t = Date.now();
    for (let i = 0; i < 1024; i++) {
      for (let o = 0; o < line.length;) o += fs.writeSync(w, line, o, line.length - o);
    }
    expect(Date.now() - t).toBeLessThan(60_000);
    fs.copyFileSync(BIN('memlogd'), copy);
    await waitFor(async () => (await dump(d.query).catch(() => [])).some((e) => /drained and lost/.test(e.msg)), 'memlogd back, saying what was lost', 60_000);
    const note = (await dump(d.query)).find((e) => /drained and lost/.test(e.msg))!.msg;
    const m = /busy\.out: (\d+) lines \((\d+) bytes\)/.exec(note)!;
    expect(Number(m[1])).toBeGreaterThan(900); // all but what the pipe still held when memlogd came back
    expect(Number(m[1]) * 1024).toBe(Number(m[2]));
    fs.writeSync(w, 'after\n');
    await waitFor(async () => (await dump(d.query)).some((e) => e.msg === 'after'), 'lines after the outage');
  }, 120_000);
});
