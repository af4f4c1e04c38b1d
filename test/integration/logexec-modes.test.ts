// logexec --mode pipe|socketpair|fifo: memlogd receives each stream through the kind of fd
// LinuxKit init hands over (socketpair for onboot actions, FIFO for services), under init's names,
// and logexec still echoes and passes on the exit status. The reference memlogd is fed the same
// way, so the hand-off is what init's would be, not only what ours accepts.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../support/cleanup.js';
import { BIN, dump, exited, runBin, startDaemon, waitFor, type Entry } from '../support/helpers.js';

const { track, tmpDir } = useCleanups();

const REFERENCE_MEMLOGD = path.resolve(import.meta.dirname, '../../../shared/reference/bin/memlogd');

/** What memlogd's fd table says about the fds it holds: pipe:[...], socket:[...] or a path. */
function fdTargets(pid: number): string[] {
  const dir = `/proc/${pid}/fd`;
  const out: string[] = [];
  for (const fd of fs.readdirSync(dir)) {
    try {
      out.push(fs.readlinkSync(`${dir}/${fd}`));
    } catch {
      // closed between readdir and readlink
    }
  }
  return out;
}

/**
 * Runs logexec in `mode` under `name`; the command prints one line on each stream and waits for
 * a go file, so memlogd's fds can be looked at while the hand-off is alive.
 */
async function runHeld(mode: string, name: string, logSock: string, fifoDir: string, memlogdPid: number, query: () => Promise<Entry[]>) {
  const go = path.join(fifoDir, 'go');
  const script = `echo "out via ${mode}"; echo "err via ${mode}" >&2; while [ ! -e ${go} ]; do sleep 0.05; done; exit 3`;
  const p = spawn(process.execPath, [BIN('logexec'), '--mode', mode, '--fifo-dir', fifoDir, '-n', name, '-socket', logSock, '--', 'sh', '-c', script],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout!.on('data', (d) => (stdout += d));
  p.stderr!.on('data', (d) => (stderr += d));
  try {
    const entries = await waitFor(async () => {
      const es = (await query()).filter((e) => e.source === name || e.source === `${name}.out`);
      return es.length === 2 ? es : null;
    }, `both lines of ${name}`);
    const fds = fdTargets(memlogdPid);
    const fifos = fs.readdirSync(fifoDir).filter((f) => f.endsWith('.log'));
    fs.writeFileSync(go, '');
    const res = await exited(p);
    return { entries, fds, fifos, res, stdout, stderr, leftover: fs.readdirSync(fifoDir).filter((f) => f.endsWith('.log')) };
  } finally {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    fs.rmSync(go, { force: true });
  }
}

describe('logexec --mode', () => {
  it.each([
    // [mode, name as init names it, the fds memlogd must hold while it runs]
    ['pipe', 'svc', (fds: string[]) => fds.filter((f) => f.startsWith('pipe:')).length >= 2],
    ['socketpair', 'onboot.sysctl', (fds: string[]) => fds.filter((f) => f.startsWith('socket:')).length >= 4],
    ['fifo', 'getty', (fds: string[], dir: string) =>
      fds.includes(path.join(dir, 'getty.out.log')) && fds.includes(path.join(dir, 'getty.log'))],
  ] as const)('%s: memlogd reads NAME.out and NAME through the fds init hands over', async (mode, name, holds) => {
    const d = track(await startDaemon());
    const fifoDir = tmpDir();
    const r = await runHeld(mode, name, d.log, fifoDir, d.proc.pid!, () => dump(d.query));
    expect(r.res).toEqual({ code: 3, signal: null });
    expect(r.stdout).toBe(`out via ${mode}\n`);
    expect(r.stderr).toBe(`err via ${mode}\n`);
    expect(r.entries.map((e) => [e.source, e.msg]).sort()).toEqual([[name, `err via ${mode}`], [`${name}.out`, `out via ${mode}`]]);
    expect(holds(r.fds, fifoDir), `memlogd's fds: ${r.fds.join(' ')}`).toBe(true);
    // fifo mode made init's two FIFOs in the directory and removes them when the command is done
    expect(r.fifos.sort()).toEqual(mode === 'fifo' ? [`${name}.log`, `${name}.out.log`] : []);
    expect(r.leftover).toEqual([]);
  });

  it('fifo: replaces whatever is at the FIFO path, as init does', async () => {
    const d = track(await startDaemon());
    const fifoDir = tmpDir();
    fs.writeFileSync(path.join(fifoDir, 'web.out.log'), 'stale file\n');
    const r = await runBin('logexec', ['--mode', 'fifo', '--fifo-dir', fifoDir, '-n', 'web', '-socket', d.log, '--', 'echo', 'fresh']);
    expect(r.code).toBe(0);
    const es = await waitFor(async () => (await dump(d.query)).find((e) => e.source === 'web.out'), 'web.out');
    expect(es.msg).toBe('fresh');
    expect(fs.readdirSync(fifoDir)).toEqual([]);
  });

  it('fifo: a missing FIFO directory leaves the command running, echoed only, with a warning', async () => {
    const d = track(await startDaemon());
    const r = await runBin('logexec', ['--mode', 'fifo', '--fifo-dir', path.join(tmpDir(), 'none'), '-n', 'x', '-socket', d.log, '--', 'echo', 'hi']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('hi\n');
    expect(r.stderr).toMatch(/mkfifo ENOENT .*running without memlogd/);
  });

  it('rejects an unknown mode as a usage error', async () => {
    const r = await runBin('logexec', ['--mode', 'tcp', '-n', 'x', '--', 'true']);
    expect(r.code).toBe(2);
  });

  it.runIf(fs.existsSync(REFERENCE_MEMLOGD)).each(['socketpair', 'fifo'])('%s: the reference memlogd reads them too', async (mode) => {
    const dir = tmpDir();
    const log = path.join(dir, 'l.sock');
    const q = path.join(dir, 'q.sock');
    const ref = spawn(REFERENCE_MEMLOGD, ['-socket-log', log, '-socket-query', q], { stdio: 'ignore' });
    track({ stop: async () => { ref.kill('SIGTERM'); await exited(ref); } });
    await waitFor(() => fs.existsSync(q), 'the reference memlogd');
    const r = await runBin('logexec', ['--mode', mode, '--fifo-dir', dir, '-n', 'job', '-socket', log, '--', 'sh', '-c', 'echo o; echo e >&2']);
    expect(r.code).toBe(0);
    const es = await waitFor(async () => {
      const got = (await dump(q)).filter((e) => e.source.startsWith('job'));
      return got.length === 2 ? got : null;
    }, 'both lines in the reference memlogd');
    expect(es.map((e) => [e.source, e.msg]).sort()).toEqual([['job', 'e'], ['job.out', 'o']]);
  });
});
