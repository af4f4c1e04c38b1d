// logread as a user runs it, against the real daemon: v1 compatibility, every v2 flag, --json,
// --stats, cursor files, --retry across a daemon restart, colors, exit codes.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatText, parseCursor } from '../../lib/protocol/index.js';
import {
  BIN, dump, exited, handOff, queryRaw, runBin, shortTmp, startDaemon, waitFor, waitForEntry, type RunningDaemon,
} from '../support/helpers.js';

let d: RunningDaemon | undefined;
const procs: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await exited(p);
  }
  await d?.stop();
  d = undefined;
  for (const x of dirs.splice(0)) fs.rmSync(x, { recursive: true, force: true });
});

function tmpDir(): string {
  const x = shortTmp();
  dirs.push(x);
  return x;
}

interface Running {
  proc: ChildProcess;
  out: string;
  err: string;
}

/** Starts logread in the background (stdout a pipe: not a terminal). */
function spawnLogread(args: string[], env: NodeJS.ProcessEnv = {}): Running {
  const proc = spawn(process.execPath, [BIN('logread'), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  procs.push(proc);
  const r: Running = { proc, out: '', err: '' };
  proc.stdout!.setEncoding('utf8').on('data', (x: string) => (r.out += x));
  proc.stderr!.setEncoding('utf8').on('data', (x: string) => (r.err += x));
  return r;
}

async function finished(r: Running): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const res = await exited(r.proc);
  // let the last output arrive
  await Promise.all([r.proc.stdout, r.proc.stderr].map((s) => (s!.readableEnded ? null : new Promise((ok) => s!.once('close', ok)))));
  return res;
}

/** logread to completion; stdout/stderr as text. */
const logread = (args: string[]) => runBin('logread', args);

type Rec = Record<string, unknown>;
const ndjson = (text: string): Rec[] => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Rec);

async function stats(sock: string): Promise<Rec & { readers: Rec[] }> {
  return JSON.parse((await queryRaw(sock, Buffer.from('{"mode":"stats"}\n'))).toString('utf8'));
}

/** Waits until memlogd lists the process as a reader (it has connected and sent its request). */
async function readerOf(sock: string, pid: number): Promise<void> {
  await waitFor(async () => (await stats(sock)).readers.some((r) => r.pid === pid), `logread pid ${pid} to be reading`);
}

/** Hands over lines and waits until memlogd holds the last of them. */
async function feed(name: string, lines: string[]): Promise<void> {
  handOff(d!.log, name, lines.map((l) => l + '\n').join(''));
  await waitForEntry(d!.query, (e) => e.source === name && e.msg === lines.at(-1), `${name}: ${lines.at(-1)}`);
}

const msgs = (text: string) => text.split('\n').filter(Boolean).map((l) => l.split(';').slice(2).join(';'));

describe('logread without v2 options (protocol v1)', () => {
  it('sends exactly one mode byte: 0 by default, 1 with -f, 2 with -F', async () => {
    const dir = tmpDir();
    const file = path.join(dir, 'q.sock');
    const got: number[][] = [];
    const server = net.createServer((s) => {
      s.once('data', (b) => {
        got.push([...b]);
        s.end('{"time":"2026-11-21T05:40:00Z","source":"x","msg":"y"}\n');
      });
    });
    await new Promise<void>((r) => server.listen(file, r));
    try {
      for (const args of [[], ['-f'], ['-F']]) {
        const r = await logread(['-socket', file, ...args]);
        expect(r.code).toBe(0);
        expect(r.stdout).toBe('2026-11-21T05:40:00Z;x;y\n');
      }
      expect(got).toEqual([[0], [1], [2]]);
    } finally {
      server.close();
    }
  });

  it('prints byte-identical reference text lines, no color on a pipe', async () => {
    d = await startDaemon();
    await feed('semi;colon', ['a;b', 'tab\there', '<html> & "quotes"', 'ünïcödé']);
    const r = await logread(['-socket', d.query]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe((await dump(d.query)).map((e) => formatText(e) + '\n').join(''));
    expect(r.stdout).toContain(';semi\\;colon;a;b\n');
    expect(r.stdout).not.toContain('\x1b');
  });
});

describe('logread v2 flags', () => {
  it('--json: the v2 entries as received, keys seq time source stream severity msg', async () => {
    d = await startDaemon();
    await feed('web.out', ['one', 'two']);
    await feed('web', ['oops']);
    const r = await logread(['-socket', d.query, '--json']);
    expect(r.code).toBe(0);
    const recs = ndjson(r.stdout);
    // memlogd's own notes say their facility (syslog); a pipe's lines do not have one
    for (const x of recs) expect(Object.keys(x)).toEqual(['seq', 'time', 'source', 'stream', 'severity', ...(x.source === 'memlogd' ? ['facility'] : []), 'msg']);
    expect(recs.map((x) => x.seq)).toEqual(recs.map((_, i) => i));
    expect(recs.map(({ time, source, msg }) => ({ time, source, msg }))).toEqual(await dump(d.query));
    expect(recs.filter((x) => x.source !== 'memlogd').map((x) => [x.source, x.stream, x.severity, x.msg]))
      .toEqual([['web.out', 'stdout', 6, 'one'], ['web.out', 'stdout', 6, 'two'], ['web', 'stderr', 3, 'oops']]);
  });

  it('-n/--tail, -s/--source (repeatable), --exclude (repeatable), --stream, --grep', async () => {
    d = await startDaemon();
    await feed('web.out', ['w1', 'w2', 'w3 timeout']);
    await feed('web-debug.out', ['d1']);
    await feed('db', ['db1 refused']);
    await feed('cache.out', ['c1']);
    const q = d.query;
    expect(msgs((await logread(['-socket', q, '-n', '2'])).stdout)).toEqual(['db1 refused', 'c1']);
    expect(msgs((await logread(['-socket', q, '--tail', '1', '-s', 'web*'])).stdout)).toEqual(['d1']);
    expect(msgs((await logread(['-socket', q, '-n', '0'])).stdout)).toEqual([]);
    expect(msgs((await logread(['-socket', q, '-s', 'web.out', '-s', 'db'])).stdout)).toEqual(['w1', 'w2', 'w3 timeout', 'db1 refused']);
    expect(msgs((await logread(['-socket', q, '-s', 'web*', '--exclude', 'web-debug*'])).stdout)).toEqual(['w1', 'w2', 'w3 timeout']);
    expect(msgs((await logread(['-socket', q, '--exclude', 'web*', '--exclude', 'memlogd'])).stdout)).toEqual(['db1 refused', 'c1']);
    expect(msgs((await logread(['-socket', q, '--stream', 'stderr', '--exclude', 'memlogd'])).stdout)).toEqual(['db1 refused']);
    expect(msgs((await logread(['-socket', q, '--stream', 'stdout', '-s', '[cd]*'])).stdout)).toEqual(['c1']);
    expect(msgs((await logread(['-socket', q, '--grep', 'timeout|refused'])).stdout)).toEqual(['w3 timeout', 'db1 refused']);
    expect(msgs((await logread(['-socket', q, '--grep', '^W\\d$'])).stdout)).toEqual([]);
    // text output of v2 is the same reference format
    const text = (await logread(['-socket', q, '-s', 'db'])).stdout;
    expect(text).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z;db;db1 refused\n$/);
  });

  it('--since / --until: RFC3339 and relative (now minus)', async () => {
    d = await startDaemon();
    await feed('a', ['old']);
    // a later receive time for the next entry, whatever the clock resolution
    const oldTime = (await dump(d.query)).find((e) => e.msg === 'old')!.time;
    await waitFor(() => new Date().toISOString() > oldTime.slice(0, 23) + 'Z', 'the clock to move on');
    await feed('a', ['new']);
    const all = ndjson((await logread(['-socket', d.query, '--json', '-s', 'a'])).stdout);
    const newTime = all.find((x) => x.msg === 'new')!.time as string;
    const q = d.query;
    expect(msgs((await logread(['-socket', q, '-s', 'a', '--since', newTime])).stdout)).toEqual(['new']);
    expect(msgs((await logread(['-socket', q, '-s', 'a', '--until', newTime])).stdout)).toEqual(['old']);
    expect(msgs((await logread(['-socket', q, '-s', 'a', '--since', oldTime, '--until', newTime])).stdout)).toEqual(['old']);
    for (const rel of ['1h', '30s', '10m', '1d', '2h30m']) {
      expect(msgs((await logread(['-socket', q, '-s', 'a', '--since', rel])).stdout), rel).toEqual(['old', 'new']);
      expect(msgs((await logread(['-socket', q, '-s', 'a', '--until', rel])).stdout), rel).toEqual([]);
    }
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect(msgs((await logread(['-socket', q, '-s', 'a', '--since', future])).stdout)).toEqual([]);
    expect(msgs((await logread(['-socket', q, '-s', 'a', '--until', future])).stdout)).toEqual(['old', 'new']);
  });

  it('gaps: a plain text line <now>;memlogd;gap: ... and, with --json, the gap record', async () => {
    // 4 lines held: the chatty source's oldest lines are evicted, the quiet one's line stays
    d = await startDaemon(['-max-lines', '4']);
    await feed('quiet', ['q']);
    await feed('chatty', Array.from({ length: 10 }, (_, i) => `c${i}`));
    const json = ndjson((await logread(['-socket', d.query, '--json'])).stdout);
    const gaps = json.filter((x) => x.type === 'gap');
    expect(gaps).toHaveLength(1);
    const g = gaps[0] as { from: number; to: number; count: number; reason: string; sources: Record<string, number> };
    expect(g.reason).toBe('evicted');
    expect(g.count).toBeGreaterThan(0);
    expect(g.sources).toEqual({ chatty: g.count });
    expect(json.indexOf(g)).toBeGreaterThan(json.findIndex((x) => x.msg === 'q'));
    const text = (await logread(['-socket', d.query, '-s', 'chatty'])).stdout.trim().split('\n');
    expect(text[0]).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z;memlogd;gap: ${g.count} entries \\(seq ${g.from}-${g.to}\\) evicted earlier to make room; by source: "chatty" ${g.count}$`));
    expect(text.at(-1)).toMatch(/;chatty;c9$/);
  });

  it('--after CURSOR resumes strictly after it', async () => {
    d = await startDaemon();
    await feed('a', ['1', '2', '3']);
    const recs = ndjson((await logread(['-socket', d.query, '--json'])).stdout);
    const instance = (await stats(d.query)).instance as string;
    const two = recs.find((x) => x.msg === '2')!;
    expect(msgs((await logread(['-socket', d.query, '--after', `${instance}:${two.seq}`])).stdout)).toEqual(['3']);
  });

  it('-f with filters follows new matching entries only; -f -n 1 starts with the last one', async () => {
    d = await startDaemon();
    await feed('web.out', ['history']);
    const f = spawnLogread(['-socket', d.query, '-f', '-s', 'web*', '--grep', 'keep']);
    const fn = spawnLogread(['-socket', d.query, '-f', '-n', '1', '-s', 'web*']);
    await readerOf(d.query, f.proc.pid!);
    await readerOf(d.query, fn.proc.pid!);
    await feed('db', ['keep but other source']);
    await feed('web.out', ['drop this', 'keep this']);
    await waitFor(() => f.out.includes('keep this') && fn.out.includes('keep this'), 'live entries');
    expect(msgs(f.out)).toEqual(['keep this']);
    expect(msgs(fn.out)).toEqual(['history', 'drop this', 'keep this']);
    f.proc.kill('SIGTERM');
    fn.proc.kill('SIGINT');
    expect(await finished(f)).toEqual({ code: 0, signal: null });
    expect(await finished(fn)).toEqual({ code: 0, signal: null });
    expect(f.err + fn.err).toBe('');
  });

  it('-F --until in the near future: dumps, follows, ends by itself with exit 0', async () => {
    d = await startDaemon();
    await feed('a', ['before']);
    const until = new Date(Date.now() + 1500).toISOString();
    const r = await logread(['-socket', d.query, '-F', '--until', until, '-s', 'a']);
    expect(r.code).toBe(0);
    expect(msgs(r.stdout)).toEqual(['before']);
  });

  it('Go-style single-dash long flags', async () => {
    d = await startDaemon();
    await feed('web.out', ['x1', 'x2']);
    const r = await logread(['-socket', d.query, '-source', 'web*', '-tail', '1', '-json', '-since=1h', '-exclude', 'nothing']);
    expect(r.code).toBe(0);
    expect(ndjson(r.stdout).map((x) => x.msg)).toEqual(['x2']);
    const s = await logread(['-socket', d.query, '-stats', '-json=true']);
    expect(JSON.parse(s.stdout).type).toBe('stats');
  });
});

describe('logread --stats', () => {
  it('prints a readable table of store, sources and readers', async () => {
    d = await startDaemon();
    await feed('web.out', ['a', 'b']);
    const f = spawnLogread(['-socket', d.query, '-f']);
    await readerOf(d.query, f.proc.pid!);
    const r = await logread(['-socket', d.query, '--stats']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^memlogd [0-9a-f]+, up \d+/);
    expect(r.stdout).toMatch(/^store: +3 \/ 5000 lines/m);
    expect(r.stdout).toMatch(/^sources \(2\):\nSOURCE +LINES +BYTES/m);
    expect(r.stdout).toMatch(/^web\.out +2 +2 B +2 /m);
    expect(r.stdout).toMatch(/^readers \(1\):\nID +MODE +PID/m);
    expect(r.stdout).toMatch(new RegExp(`^ *\\d+ +follow +${f.proc.pid} `, 'm'));
    expect(r.stdout).not.toContain('\x1b');
  });

  it('--json prints the stats record', async () => {
    d = await startDaemon();
    await feed('web.out', ['a']);
    const r = await logread(['-socket', d.query, '--stats', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(s).toMatchObject({ type: 'stats', store: { lines: 2 } });
    expect((s.sources as Rec[]).map((x) => x.name).sort()).toEqual(['memlogd', 'web.out']);
  });
});

describe('logread --cursor-file', () => {
  it('two runs print everything exactly once', async () => {
    d = await startDaemon();
    const cf = path.join(tmpDir(), 'cursor');
    await feed('a', ['1', '2']);
    const r1 = await logread(['-socket', d.query, '--cursor-file', cf]);
    expect(r1.code).toBe(0);
    const c1 = parseCursor(fs.readFileSync(cf, 'utf8').trim())!;
    expect(c1.instance).toBe((await stats(d.query)).instance);
    await feed('a', ['3', '4']);
    const r2 = await logread(['-socket', d.query, '--cursor-file', cf]);
    const r3 = await logread(['-socket', d.query, '--cursor-file', cf]);
    expect(msgs(r1.stdout)).toEqual(['memlogd started', '1', '2']);
    expect(msgs(r2.stdout)).toEqual(['3', '4']);
    expect(r3.stdout).toBe('');
    expect(r1.stdout + r2.stdout).toBe((await logread(['-socket', d.query])).stdout);
    expect(parseCursor(fs.readFileSync(cf, 'utf8').trim())!.seq).toBe(4);
    expect(fs.readdirSync(path.dirname(cf))).toEqual(['cursor']); // no temp files left
  });

  it('a follower stopped by SIGINT or SIGTERM saves its cursor; the next run resumes after it', async () => {
    d = await startDaemon();
    const cf = path.join(tmpDir(), 'cursor');
    await feed('a', ['1']);
    for (const [sig, line] of [['SIGINT', '2'], ['SIGTERM', '3']] as const) {
      const f = spawnLogread(['-socket', d.query, '-F', '--cursor-file', cf, '-s', 'a']);
      await readerOf(d.query, f.proc.pid!);
      await feed('a', [line]);
      await waitFor(() => f.out.includes(`;a;${line}\n`), `line ${line}`);
      f.proc.kill(sig);
      expect(await finished(f)).toEqual({ code: 0, signal: null });
      expect(msgs(f.out)).toEqual(sig === 'SIGINT' ? ['1', '2'] : ['3']);
    }
    await feed('a', ['4']);
    const r = await logread(['-socket', d.query, '--cursor-file', cf, '-s', 'a']);
    expect(msgs(r.stdout)).toEqual(['4']);
  });

  it('when the reader goes away (EPIPE) it exits 0 quietly and still saves the cursor', async () => {
    d = await startDaemon();
    const cf = path.join(tmpDir(), 'cursor');
    let text = '';
    for (let i = 0; i < 20000; i++) text += `line ${i}\n`;
    handOff(d.log, 'many', text);
    await waitForEntry(d.query, (e) => e.msg === 'line 19999', 'lines');
    const p = spawn(process.execPath, [BIN('logread'), '-socket', d.query, '--cursor-file', cf], { stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(p);
    let err = '';
    p.stderr!.on('data', (x) => (err += x));
    await new Promise((r) => p.stdout!.once('data', r));
    p.stdout!.destroy();
    expect(await exited(p)).toEqual({ code: 0, signal: null });
    expect(err).toBe('');
    const c = parseCursor(fs.readFileSync(cf, 'utf8').trim());
    expect(c).not.toBeNull();
    expect(c!.seq).toBeLessThan(20000);
    // the next run continues after it: the rest, in order, without duplicates
    const rest = await logread(['-socket', d.query, '--cursor-file', cf, '--json']);
    const seqs = ndjson(rest.stdout).map((x) => x.seq as number);
    expect(seqs[0]).toBe(c!.seq + 1);
    expect(seqs.at(-1)).toBe(20000);
    expect(seqs.every((s, i) => i === 0 || s === seqs[i - 1] + 1)).toBe(true);
  });

  it('a file that does not hold a cursor is a usage error', async () => {
    const cf = path.join(tmpDir(), 'cursor');
    fs.writeFileSync(cf, 'garbage\n');
    const r = await logread(['-socket', path.join(tmpDir(), 'none.sock'), '--cursor-file', cf]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^logread: --cursor-file: .* does not hold a cursor/);
  });
});

describe('logread --retry', () => {
  it('across a daemon restart: a restarted gap, then the new instance, nothing twice', async () => {
    d = await startDaemon();
    const dir = d.dir;
    const cf = path.join(tmpDir(), 'cursor');
    await feed('a', ['before']);
    const f = spawnLogread(['-socket', d.query, '-F', '--retry', '--cursor-file', cf]);
    await waitFor(() => f.out.includes(';a;before\n'), 'history');
    // memlogd restarts on the same socket paths; its memory is gone
    d.proc.kill('SIGTERM');
    expect((await exited(d.proc)).code).toBe(0);
    await waitFor(() => f.err.includes('lost the connection'), 'logread to notice');
    d = await startDaemon([], dir);
    await feed('b', ['after']);
    await waitFor(() => f.out.includes(';b;after\n'), 'the line after the restart');
    const lines = f.out.trim().split('\n');
    const gap = lines.findIndex((l) => /;memlogd;gap: memlogd restarted/.test(l));
    expect(gap).toBeGreaterThan(lines.findIndex((l) => l.endsWith(';a;before')));
    expect(lines.slice(gap + 1).map((l) => l.split(';').slice(1).join(';'))).toEqual(['memlogd;memlogd started', 'b;after']);
    expect(lines.filter((l) => l.endsWith(';a;before'))).toHaveLength(1);
    expect(f.err).toMatch(/connected to memlogd again/);
    f.proc.kill('SIGTERM');
    expect(await finished(f)).toEqual({ code: 0, signal: null });
    const saved = parseCursor(fs.readFileSync(cf, 'utf8').trim())!;
    expect(saved.instance).toBe((await stats(d.query)).instance);
  });

  it('--json shows the restarted gap record with the previous cursor', async () => {
    d = await startDaemon();
    const dir = d.dir;
    await feed('a', ['x']);
    const f = spawnLogread(['-socket', d.query, '-F', '--retry', '--json', '-s', 'a']);
    await waitFor(() => f.out.includes('"msg":"x"'), 'x');
    const before = ndjson(f.out)[0];
    const oldInstance = (await stats(d.query)).instance;
    d.proc.kill('SIGTERM');
    await exited(d.proc);
    d = await startDaemon([], dir);
    await feed('a', ['y']);
    await waitFor(() => f.out.includes('"msg":"y"'), 'y');
    const recs = ndjson(f.out);
    expect(recs.map((x) => x.msg ?? x.type)).toEqual(['x', 'gap', 'y']);
    expect(recs[1]).toMatchObject({ type: 'gap', reason: 'restarted', previous: `${oldInstance}:${before.seq}` });
  });

  it('waits for memlogd that is not there yet, instead of exiting 3', async () => {
    const dir = tmpDir();
    const f = spawnLogread(['-socket', path.join(dir, 'q.sock'), '-F', '--retry']);
    await waitFor(() => f.err.includes('retrying'), 'a retrying notice');
    expect(f.err.trim().split('\n')).toHaveLength(1);
    expect(f.err).toMatch(/cannot connect to memlogd at .*q\.sock: ENOENT/);
    d = await startDaemon([], dir);
    await waitFor(() => f.out.includes(';memlogd;memlogd started'), 'the first entry');
    expect(f.proc.exitCode).toBeNull();
    f.proc.kill('SIGTERM');
    expect(await finished(f)).toEqual({ code: 0, signal: null });
  });
});

describe('logread colors', () => {
  it('none on a pipe, in v1 and v2; --color forces them; --no-color and NO_COLOR keep them off', async () => {
    d = await startDaemon();
    await feed('web.out', ['hello']);
    for (const args of [[], ['-s', '*'], ['--no-color'], ['--json']]) {
      expect((await logread(['-socket', d.query, ...args])).stdout, args.join(' ')).not.toContain('\x1b');
    }
    const forced = (await logread(['-socket', d.query, '--color'])).stdout;
    expect(forced).toMatch(/\x1b\[\d+mweb\.out\x1b\[0m;hello\n/);
    expect(forced.replace(/\x1b\[[0-9;]*m/g, '')).toBe((await logread(['-socket', d.query])).stdout);
  });

  const hasScript = spawnSync('script', ['--version']).status === 0;
  it.skipIf(!hasScript)('colors source names on a terminal (a pty), plain again with --no-color', async () => {
    d = await startDaemon();
    await feed('web.out', ['hello']);
    const onTty = (extra: string) => {
      const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN('logread'))} -socket ${JSON.stringify(d!.query)} ${extra}`;
      return new Promise<string>((resolve) => {
        const p = spawn('script', ['-qefc', cmd, '/dev/null'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NO_COLOR: '', TERM: 'xterm' } });
        procs.push(p);
        let out = '';
        p.stdout!.on('data', (x) => (out += x));
        p.on('close', () => resolve(out));
      });
    };
    expect(await onTty('')).toMatch(/\x1b\[\d+mweb\.out\x1b\[0m;hello\r?\n/);
    expect(await onTty('--no-color')).not.toContain('\x1b');
  });
});

describe('logread exit codes', () => {
  it('1: memlogd refuses the request (an error record), its message on stderr', async () => {
    d = await startDaemon(['--allow-query-uid', '54321']);
    const r = await logread(['-socket', d.query, '--json']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^logread: memlogd refused the request: .*may not query/);
  });

  it('1: memlogd closes a v2 request without answering (a v1-only memlogd)', async () => {
    const file = path.join(tmpDir(), 'q.sock');
    const server = net.createServer((s) => s.once('data', () => s.end()));
    await new Promise<void>((r) => server.listen(file, r));
    try {
      const r = await logread(['-socket', file, '-n', '5']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^logread: memlogd closed the connection without answering the v2 request\n$/);
    } finally {
      server.close();
    }
  });

  it('2: bad flag values, one clear line each', async () => {
    const sock = path.join(tmpDir(), 'none.sock');
    const cases: [string[], RegExp][] = [
      [['--since', 'yesterday'], /--since: "yesterday" is neither an RFC3339 time/],
      [['--until', '5'], /--until: "5"/],
      [['--stream', 'both'], /--stream must be stdout or stderr/],
      [['-n', 'x'], /tail/],
      [['-n', '-1'], /tail/],
      [['--grep', '(unclosed'], /--grep: /],
      [['-s', '[ab'], /--source: unclosed \[/],
      [['--after', 'not-a-cursor'], /--after: "not-a-cursor" is not a cursor/],
      [['--stats', '-F'], /--stats cannot be combined with -F/],
      [['--bogus'], /unknown option/],
    ];
    for (const [args, re] of cases) {
      const r = await logread(['-socket', sock, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr, args.join(' ')).toMatch(re);
    }
  });

  it('3: cannot connect, with v2 options too, one clear line', async () => {
    const sock = path.join(tmpDir(), 'none.sock');
    for (const args of [['--json'], ['--stats'], ['-F', '-s', 'x']]) {
      const r = await logread(['-socket', sock, ...args]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/^logread: cannot connect to memlogd at .*none\.sock: ENOENT \(is memlogd running\?\)\n$/);
    }
  });
});
