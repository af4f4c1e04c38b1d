// Access control with real credentials: clients run as another uid (`nobody`, via a setuid
// child; needs root). Three layers: the socket file modes, then the peer-credential allow-lists
// (SO_PEERCRED on the query socket, SCM_CREDENTIALS on the logging socket), then acceptance.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, dump, queryRaw, shortTmp, startDaemon, waitFor, waitForEntry, type RunningDaemon } from '../support/helpers.js';

const ROOT = process.getuid?.() === 0;
const NOBODY = 65534;
if (!ROOT) console.warn('access.test.ts: not running as root, the credential tests are skipped (they need a setuid child)');

let d: RunningDaemon | undefined;
afterEach(async () => {
  await d?.stop();
  d = undefined;
});

/** Runs a built binary as nobody. */
function asNobody(bin: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN(bin), ...args], { uid: NOBODY, gid: NOBODY, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (x) => (stdout += x));
    p.stderr!.on('data', (x) => (stderr += x));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A temp dir nobody can traverse (mkdtemp makes it 0700). */
function openDir(): string {
  const dir = shortTmp();
  fs.chmodSync(dir, 0o755);
  return dir;
}

/** One raw v2 query as nobody, through a tiny node one-liner. */
function v2AsNobody(sock: string, req: object): Promise<string> {
  const code = `const c=require('net').createConnection(${JSON.stringify(sock)},()=>c.write(${JSON.stringify(JSON.stringify(req) + '\n')}));` +
    `let o='';c.on('data',d=>o+=d);c.on('close',()=>process.stdout.write(o));c.on('error',e=>{process.stdout.write('ERR '+e.code);})`;
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['-e', code], { uid: NOBODY, gid: NOBODY, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout!.on('data', (x) => (out += x));
    p.on('close', () => resolve(out));
  });
}

describe('socket files', () => {
  it('are created with explicit modes: logging root-only, query owner+group', async () => {
    d = await startDaemon();
    expect(fs.statSync(d.log).mode & 0o777).toBe(0o600);
    expect(fs.statSync(d.query).mode & 0o777).toBe(0o660);
  });
  it('take the modes and group given on the command line', async () => {
    d = await startDaemon(['--socket-log-mode', '0620', '--socket-query-mode', '0640', '--socket-group', String(NOBODY)]);
    expect(fs.statSync(d.log).mode & 0o777).toBe(0o620);
    expect(fs.statSync(d.query).mode & 0o777).toBe(0o640);
    expect(fs.statSync(d.query).gid).toBe(NOBODY);
  });
});

describe.skipIf(!ROOT)('credentials (as root, clients run as nobody)', () => {
  it('the file mode keeps nobody out of both default sockets', async () => {
    d = await startDaemon([], openDir());
    const r = await asNobody('logread', ['-socket', d.query]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/EACCES/);
    const w = await asNobody('logexec', ['-n', 'sneaky', '-socket', d.log, '--', 'echo', 'hi']);
    expect(w.code).toBe(0); // the command still runs, unlogged
    expect(w.stderr).toMatch(/EACCES.*running without memlogd/);
  });

  it('a query from a uid not on the allow-list is refused and logged, even through an open socket', async () => {
    d = await startDaemon(['--socket-query-mode', '0666'], openDir());
    const v2 = await v2AsNobody(d.query, { mode: 'dump' });
    expect(JSON.parse(v2.trim())).toMatchObject({ type: 'error', code: 'ERR_ACCESS_DENIED' });
    const v1 = await asNobody('logread', ['-socket', d.query]);
    expect(v1.stdout).toBe(''); // a v1 client is just disconnected
    const es = await waitForEntry(d.query, (e) => e.source === 'memlogd' && /uid 65534/.test(e.msg), 'refusal logged');
    expect(es.some((e) => /refused query client pid \d+ uid 65534/.test(e.msg))).toBe(true);
  });

  it('--allow-query-uid lets that uid read', async () => {
    d = await startDaemon(['--socket-query-mode', '0666', '--allow-query-uid', 'nobody'], openDir());
    const r = await asNobody('logread', ['-socket', d.query]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/;memlogd;memlogd started/);
  });

  it('fds from a uid not on the allow-list are closed unread and the refusal logged with pid/uid', async () => {
    d = await startDaemon(['--socket-log-mode', '0666'], openDir());
    const w = await asNobody('logexec', ['-n', 'sneaky', '-socket', d.log, '--', 'echo', 'injected line']);
    expect(w.code).toBe(0);
    const es = await waitForEntry(d.query, (e) => e.source === 'memlogd' && e.msg.includes('"sneaky'), 'refusal logged');
    expect(es.some((e) => /refused 1 fd\(s\) for source "sneaky(\.out)?" from pid \d+ uid 65534: not in --allow-log-uid/.test(e.msg))).toBe(true);
    expect(es.some((e) => e.msg === 'injected line')).toBe(false);
  });

  it('--allow-log-uid accepts that uid, and stats record the sender', async () => {
    d = await startDaemon(['--socket-log-mode', '0666', '--allow-log-uid', String(NOBODY)], openDir());
    const w = await asNobody('logexec', ['-n', 'guest', '-socket', d.log, '--', 'echo', 'hello from nobody']);
    expect(w.code).toBe(0);
    await waitForEntry(d.query, (e) => e.msg === 'hello from nobody', 'guest line');
    const stats = JSON.parse((await queryRaw(d.query, Buffer.from('{"mode":"stats"}\n'))).toString());
    const guest = stats.sources.find((s: { name: string }) => s.name === 'guest.out');
    expect(guest.uid).toBe(NOBODY);
    expect(guest.pid).toBeGreaterThan(0);
    await waitFor(async () => (await dump(d!.query)).length > 0, 'still serving');
  });
});
