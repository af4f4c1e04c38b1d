// logread and logexec as a user runs them.

import { spawn } from 'node:child_process';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, dump, exited, handOff, runBin, shortTmp, startDaemon, waitFor, waitForEntry, type RunningDaemon } from '../support/helpers.js';

let d: RunningDaemon | undefined;
afterEach(async () => {
  await d?.stop();
  d = undefined;
});

describe('logread', () => {
  it('exits 0 quietly when its reader goes away (logread | head -1)', async () => {
    d = await startDaemon();
    let text = '';
    for (let i = 0; i < 20000; i++) text += `line ${i}\n`;
    handOff(d.log, 'many', text);
    await waitForEntry(d.query, (e) => e.msg === 'line 19999', 'lines');
    // like `| head -1`: the reader takes one chunk and closes the pipe
    const p = spawn(process.execPath, [BIN('logread'), '-socket', d.query], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (x) => (err += x));
    await new Promise((r) => p.stdout!.once('data', r));
    p.stdout!.destroy();
    const res = await exited(p);
    expect(res).toEqual({ code: 0, signal: null });
    expect(err).toBe('');
  });

  it('says one clear line and exits 3 when memlogd is not there', async () => {
    const dir = shortTmp();
    const r = await runBin('logread', ['-socket', `${dir}/none.sock`]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/cannot connect to memlogd at .*none\.sock: ENOENT \(is memlogd running\?\)/);
  });

  it('-f follows new entries; -F prints history first', async () => {
    d = await startDaemon();
    handOff(d.log, 'hist', 'history\n');
    await waitForEntry(d.query, (e) => e.msg === 'history', 'history');
    const follow = spawn(process.execPath, [BIN('logread'), '-socket', d.query, '-f'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const both = spawn(process.execPath, [BIN('logread'), '-socket', d.query, '-F'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let fOut = '';
    let bOut = '';
    follow.stdout!.on('data', (x) => (fOut += x));
    both.stdout!.on('data', (x) => (bOut += x));
    await waitFor(() => bOut.includes(';hist;history'), '-F history');
    // -f has no history; wait until it is surely connected by watching memlogd's reader count
    await new Promise((r) => setTimeout(r, 500));
    handOff(d.log, 'live', 'fresh\n');
    await waitFor(() => fOut.includes(';live;fresh') && bOut.includes(';live;fresh'), 'live line in both');
    expect(fOut).not.toContain('history');
    follow.kill();
    both.kill();
    await Promise.all([exited(follow), exited(both)]);
  });

  it('memlogd drops a client that sends no request within -query-timeout', async () => {
    d = await startDaemon(['-query-timeout', '300']);
    const c = net.createConnection({ path: d.query });
    c.on('error', () => {});
    const t0 = Date.now();
    await new Promise((r) => c.once('close', r));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    const es = await dump(d.query);
    expect(es.some((e) => e.source === 'memlogd' && e.msg.includes('sent no request'))).toBe(true);
  });
});

describe('logexec', () => {
  it('hands stdout as NAME.out and stderr as NAME, echoes both, exits with the status', async () => {
    d = await startDaemon();
    const r = await runBin('logexec', ['-n', 'job', '-socket', d.log, '--', 'sh', '-c', 'echo out1; echo err1 >&2; echo out2; exit 7']);
    expect(r.code).toBe(7);
    expect(r.stdout).toBe('out1\nout2\n');
    expect(r.stderr).toBe('err1\n');
    const es = await waitFor(async () => {
      const all = (await dump(d!.query)).filter((e) => e.source.startsWith('job'));
      return all.length === 3 ? all : null;
    }, 'three lines');
    expect(es.filter((e) => e.source === 'job.out').map((e) => e.msg)).toEqual(['out1', 'out2']);
    expect(es.filter((e) => e.source === 'job').map((e) => e.msg)).toEqual(['err1']);
  });

  it('reports death by signal as 128+N', async () => {
    d = await startDaemon();
    const r = await runBin('logexec', ['-n', 'sig', '-socket', d.log, '--', 'sh', '-c', 'kill -TERM $$']);
    expect(r.code).toBe(128 + 15);
  });

  it('still runs the command, with a warning, when memlogd is not there', async () => {
    const dir = shortTmp();
    const r = await runBin('logexec', ['-n', 'x', '-socket', `${dir}/none.sock`, '--', 'echo', 'hi']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('hi\n');
    expect(r.stderr).toMatch(/running without memlogd/);
  });

  it('exits 2 on a usage error', async () => {
    const r = await runBin('logexec', ['--', 'true']);
    expect(r.code).toBe(2);
  });
});
