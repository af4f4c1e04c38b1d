// logwrite as a client of memlogd: waiting for it without using CPU, reconnecting without leaking,
// hostile source names, the JSON format, the Go-style flags.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileBase } from '../../lib/logwrite/names.js';
import { exited, runBin, startDaemon, waitFor } from '../support/helpers.js';
import { cpuSeconds, fdCount, Feed, linesOf, msgOf, sleep, startLogwrite, waitStderr, useCleanups } from '../support/logwrite.js';

const { track, tmpDir } = useCleanups();

describe('waiting for memlogd', () => {
  it('uses no CPU while memlogd is away, says so once, and connects when it comes', async () => {
    const sockDir = tmpDir();
    const out = tmpDir();
    const lw = track(startLogwrite(['-socket', path.join(sockDir, 'q.sock'), '-log-dir', out]));
    await waitStderr(lw, 'not reachable');
    await sleep(500); // start-up CPU is not what we measure
    const cpu0 = cpuSeconds(lw.proc.pid!);
    await sleep(4000);
    const used = cpuSeconds(lw.proc.pid!) - cpu0;
    expect(used).toBeLessThan(0.3); // a busy loop would use about 4 s
    expect(lw.stderr().match(/not reachable/g)).toHaveLength(1);
    const d = track(await startDaemon([], sockDir));
    await waitStderr(lw, 'connected to memlogd', 'the connection', 30_000);
    const f = new Feed(d.log, 'late');
    f.write('hello\n');
    f.close();
    await waitFor(() => linesOf(out, 'late').length === 1, 'the line');
    expect(lw.stderr().split('\n').filter(Boolean)).toHaveLength(2);
  });

  it('reconnects across memlogd restarts without leaking file descriptors', async () => {
    const sockDir = tmpDir();
    const out = tmpDir();
    let d = track(await startDaemon([], sockDir));
    const lw = track(startLogwrite(['-socket', d.query, '-log-dir', out]));
    await waitStderr(lw, 'connected');
    await waitFor(() => linesOf(out, 'memlogd').length === 1, 'the first line');
    await sleep(1500); // the state written once
    const fds = fdCount(lw.proc.pid!);
    for (let i = 2; i <= 4; i++) {
      d.proc.kill('SIGTERM');
      await exited(d.proc);
      await waitFor(() => (lw.stderr().match(/lost the connection/g)?.length ?? 0) === i - 1, 'the loss');
      d = track(await startDaemon([], sockDir));
      await waitFor(() => (lw.stderr().match(/connected to memlogd/g)?.length ?? 0) === i, `reconnection ${i}`);
      await waitFor(() => linesOf(out, 'memlogd').filter((l) => l.endsWith('memlogd started')).length === i, 'the new start line');
    }
    await sleep(1500);
    expect(fdCount(lw.proc.pid!)).toBe(fds);
    const self = linesOf(out, 'memlogd').map((l) => msgOf(l, 'memlogd'));
    expect(self.filter((m) => m.startsWith('gap: memlogd restarted'))).toHaveLength(3);
    expect(await lw.stop()).toEqual({ code: 0, signal: null });
  });
});

describe('hostile source names', () => {
  it('keeps every file inside the log directory, one per source, readable back', async () => {
    const d = track(await startDaemon());
    const root = tmpDir();
    const out = path.join(root, 'log');
    const names: Array<string | Buffer> = [
      '../escape', '../../../../tmp/escape', '/abs/path', '..', '.', '', 'a/b', 'a%2Fb', 'a\\b', 'sp ace', 'nl\nname',
      '-rf', '.hidden', 'x.log.0', 'logwrite.state', '%empty', Buffer.from('nul\0byte'), Buffer.from([0xff, 0xfe, 0x41]),
      'n'.repeat(512), '\u202eevil',
    ];
    const lw = track(startLogwrite(['-socket', d.query, '-log-dir', out]));
    await waitStderr(lw, 'connected');
    names.forEach((n, i) => {
      const f = new Feed(d.log, n);
      f.write(`message ${i}\n`);
      f.close();
    });
    const source = (n: string | Buffer) => (typeof n === 'string' ? n : n.toString('utf8'));
    await waitFor(() => names.every((n) => linesOf(out, source(n)).length > 0), 'a file for every source');
    expect(await lw.stop()).toEqual({ code: 0, signal: null });
    // nothing outside the log directory, nothing hidden inside it
    expect(fs.readdirSync(root)).toEqual(['log']);
    const files = fs.readdirSync(out).filter((n) => n !== 'logwrite.state');
    expect(files.filter((n) => n.startsWith('.'))).toEqual([]);
    expect(files).toHaveLength(names.length + 1); // + memlogd.log
    names.forEach((n, i) => {
      const s = source(n);
      const lines = linesOf(out, s);
      expect(lines, JSON.stringify(s)).toHaveLength(1);
      expect(lines[0].endsWith(` message ${i}`)).toBe(true);
    });
    expect(files).toContain('%2E.%2F..%2F..%2F..%2Ftmp%2Fescape.log');
    expect(files).toContain('nl%0Aname.log');
    expect(files).toContain('%empty.log');
    expect(files).toContain('%25empty.log');
    expect(files).toContain('a%2Fb.log');
    expect(files).toContain('a%252Fb.log');
    expect(files).toContain(`${fileBase('n'.repeat(512))}.log`);
  });
});

describe('formats and flags', () => {
  it('writes NDJSON with seq for --format json, long lines joined', async () => {
    const d = track(await startDaemon(['-max-line-len', '64']));
    const out = tmpDir();
    const lw = track(startLogwrite(['--socket', d.query, '--log-dir', out, '--format', 'json']));
    const f = new Feed(d.log, 'j.out');
    f.write('first\n' + 'J'.repeat(150) + '\nlast\n');
    f.close();
    await waitFor(() => linesOf(out, 'j.out').length === 3, 'the lines');
    expect(await lw.stop()).toEqual({ code: 0, signal: null });
    const recs = linesOf(out, 'j.out').map((l) => JSON.parse(l));
    expect(recs.map((r) => r.msg)).toEqual(['first', 'J'.repeat(150), 'last']);
    expect(recs[0]).toMatchObject({ source: 'j.out', stream: 'stdout', time: expect.stringMatching(/Z$/) });
    expect(recs[1]).toMatchObject({ seq: recs[0].seq + 1, lastSeq: recs[0].seq + 3, pieces: 3 });
    expect(recs[2].seq).toBe(recs[0].seq + 4);
  });

  it('takes the reference flags in Go style, and rejects bad ones with exit 2', async () => {
    const bad = await runBin('logwrite', ['-max-log-size', 'lots']);
    expect(bad.code).toBe(2);
    const fsync = await runBin('logwrite', ['--fsync', 'sometimes']);
    expect(fsync.code).toBe(2);
    const help = await runBin('logwrite', ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--max-total-size/);
  });
});
