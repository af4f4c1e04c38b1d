// logforward across restarts of both sides, against a real rsyslogd:
// - RELP: 100,000 lines while rsyslog is restarted twice and logforward is killed with -9 once:
//   every line arrives, and there are no more duplicates than logforward said it sent again.
// - TCP: the server killed (SIGKILL) in the middle and started again: what arrived differs from
//   "every line once" only inside the range logforward reported.

import path from 'node:path';
import { expect, it } from 'vitest';
import { startRsyslog, type RunningRsyslog } from '../../bench/rsyslog.js';
import { useCleanups } from '../support/cleanup.js';
import { startDaemon, waitFor, waitStderr, type RunningBin } from '../support/helpers.js';
import { Feed } from '../support/logwrite.js';
import { describeRsyslog, parseCompact, resentReported, startLogforward, type Compact } from '../support/syslog.js';

const { track, tmpDir, defer } = useCleanups();

/** Writes n lines `line <i> <pad>` into a new pipe memlogd reads as source (entries 1..n after "memlogd started"). */
function feedLines(logSock: string, source: string, n: number, pad = ''): void {
  const f = new Feed(logSock, source);
  defer(() => {
    try {
      f.close();
    } catch { /* closed */ }
  });
  for (let i = 0; i < n; i += 5000) {
    let text = '';
    for (let j = i; j < Math.min(n, i + 5000); j++) text += `line ${j}${pad}\n`;
    f.write(text);
  }
  f.close();
}

/** How often each seq arrived; the message of each seq must be the line fed as entry seq. */
function countSeqs(got: Compact[], source: string): Map<number, number> {
  const seen = new Map<number, number>();
  for (const m of got) {
    if (m.app !== source) continue;
    expect(m.msg.startsWith(`line ${m.seq - 1}`), `seq ${m.seq}: ${m.msg}`).toBe(true);
    seen.set(m.seq, (seen.get(m.seq) ?? 0) + 1);
  }
  return seen;
}

async function restart(srv: RunningRsyslog, dir: string, signal: NodeJS.Signals): Promise<RunningRsyslog> {
  await srv.stop(signal);
  const again = await startRsyslog({ dir, relp: srv.ports.relp, tcp: srv.ports.tcp, template: 'compact' });
  track({ stop: () => again.stop() });
  return again;
}

describeRsyslog('logforward resumes', () => {
  it('RELP: 100,000 lines across two rsyslog restarts and a kill -9 of logforward: none lost, duplicates within what it reported', async () => {
    const N = 100_000;
    const d = track(await startDaemon(['-max-lines', '200000', '--max-bytes', String(64 << 20)]));
    const dir = tmpDir();
    let srv = await startRsyslog({ dir, relp: 0, template: 'compact' });
    track({ stop: () => srv.stop() });
    const state = path.join(tmpDir(), 'lf.state');
    const args = ['-socket', d.query, '--state', state, `relp://127.0.0.2:${srv.ports.relp}`];
    const runs: RunningBin[] = [track(startLogforward(args))];
    feedLines(d.log, 'load', N, ' payload of a usual log line, some sixty bytes long');
    const progress = async (n: number) => waitFor(() => srv.count('relp') >= n, `${n} messages at the server`, 120_000, 50);
    await progress(20_000);
    srv = await restart(srv, dir, 'SIGTERM');
    await progress(45_000);
    await runs[0].kill9();
    runs.push(track(startLogforward(args)));
    await progress(70_000);
    srv = await restart(srv, dir, 'SIGTERM');
    await waitFor(() => srv.count('relp') >= N && countSeqs(parseCompact(srv.lines('relp')), 'load').size === N, 'every line', 120_000, 500);
    expect(await runs[1].stop()).toEqual({ code: 0, signal: null });

    const stderr = runs.map((r) => r.stderr()).join('');
    const seen = countSeqs(parseCompact(srv.lines('relp')), 'load');
    for (let seq = 1; seq <= N; seq++) expect(seen.has(seq), `seq ${seq}`).toBe(true);
    const duplicates = [...seen.values()].reduce((s, c) => s + c - 1, 0);
    const reported = resentReported(stderr);
    expect(duplicates, stderr).toBeLessThanOrEqual(reported);
    // the restarts were noticed and resumed from (the first run, from the state file)
    expect(stderr).toMatch(/lost the connection/);
    expect(runs[1].stderr()).toMatch(/resuming after [0-9a-f]+:\d+; messages up to seq \d+ may have been sent before the restart/);
    expect(runs[1].stderr()).toMatch(/connected; sending after [0-9a-f]+:\d+/);
    process.stdout.write(`relp resume: ${duplicates} duplicates, ${reported} reported as possibly sent again\n`);
  }, 300_000);

  it('TCP: the server killed and started again: every line arrives, and only lines in the reported range arrive twice', async () => {
    const N = 400_000;
    const d = track(await startDaemon(['-max-lines', '500000', '--max-bytes', String(128 << 20)]));
    const dir = tmpDir();
    let srv = await startRsyslog({ dir, tcp: 0, template: 'compact' });
    track({ stop: () => srv.stop() });
    const lf = track(startLogforward(['-socket', d.query, '--no-state', `tcp://127.0.0.1:${srv.ports.tcp}`]));
    feedLines(d.log, 'load', N, ' payload of a usual log line, some sixty bytes long');
    // past the unsure window (tens of MB with Linux's default buffer limits), so the range does not start at 0
    await waitFor(() => srv.count('tcp') >= 300_000, 'most lines at the server', 120_000, 50);
    srv = await restart(srv, dir, 'SIGKILL');
    const m = await waitFor(() => /lost the connection \([^)]*\); (\d+) messages \(seq (\d+)-(\d+)\) may not have arrived: sending them again/
      .exec(lf.stderr()), 'the report of the break');
    const [from, to] = [Number(m[2]), Number(m[3])];
    // everything after the range was sent once the range was sent again: then wait until the server is quiet
    await waitStderr(lf, /sent again \d+ messages/, 'the count of what was sent again', 120_000);
    let last = -1;
    await waitFor(() => {
      const n = srv.count('tcp');
      const quiet = n === last && n >= N;
      last = n;
      return quiet;
    }, 'the server to write the rest', 120_000, 1000);
    expect(await lf.stop()).toEqual({ code: 0, signal: null });
    const seen = countSeqs(parseCompact(srv.lines('tcp')), 'load');
    const outside: number[] = [];
    let twice = 0;
    for (let seq = 1; seq <= N; seq++) {
      const c = seen.get(seq) ?? 0;
      if (seq >= from && seq <= to) {
        expect(c, `seq ${seq}`).toBeGreaterThanOrEqual(1);
        expect(c, `seq ${seq}`).toBeLessThanOrEqual(2);
        if (c === 2) twice++;
      } else if (c !== 1) outside.push(seq);
    }
    expect(outside, `range ${from}-${to}`).toEqual([]);
    expect(from).toBeGreaterThan(1);
    expect(twice).toBeLessThanOrEqual(resentReported(lf.stderr()));
    process.stdout.write(`tcp kill: range ${from}-${to} (${to - from + 1} seqs), ${twice} arrived twice\n`);
  }, 300_000);
});
