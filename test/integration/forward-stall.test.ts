// A server that stops taking messages: rsyslog frozen with SIGSTOP while 1,000,000 lines are
// offered. logforward's memory stays bounded (RSS grows by at most 20 MB), the other destination
// keeps receiving everything meanwhile, and after SIGCONT every line arrives, once.

import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { startRsyslog, type InputName, type RunningRsyslog } from '../../bench/rsyslog.js';
import { useCleanups } from '../support/cleanup.js';
import { startDaemon, waitFor, sleep } from '../support/helpers.js';
import { Feed } from '../support/logwrite.js';
import { describeRsyslog, parseCompact, startLogforward } from '../support/syslog.js';

const { track, tmpDir, defer } = useCleanups();

/** Resident set now and its peak since the last reset (clear_refs 5 resets VmHWM), MiB. */
function rss(pid: number): { now: number; peak: number } {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)![1]) / 1024;
  return { now: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Lines `line <i>` for i in [from, from + n), written as fast as memlogd takes them. */
function offer(feed: Feed, from: number, n: number): void {
  for (let i = from; i < from + n; i += 10_000) {
    let text = '';
    for (let j = i; j < Math.min(from + n, i + 10_000); j++) text += `line ${j}\n`;
    feed.write(text);
  }
}

/** Every line 0..n-1 of source `load` exactly once (memlogd's own first line aside). */
function expectEachOnce(srv: RunningRsyslog, input: InputName, n: number): void {
  const seen = new Uint8Array(n);
  let other = 0;
  for (const m of parseCompact(srv.lines(input))) {
    if (m.app !== 'load') {
      other++;
      continue;
    }
    const i = Number(m.msg.slice(5));
    expect(m.seq, m.msg).toBe(i + 1);
    seen[i]++;
  }
  expect(other).toBe(1);
  const wrong = seen.findIndex((c) => c !== 1);
  expect(wrong, `line ${wrong} arrived ${seen[wrong]} times at ${input}`).toBe(-1);
}

describeRsyslog('a stalled server', () => {
  it('rsyslog stopped while 1,000,000 lines are offered: RSS grows by at most 20 MB, the other destination flows, all arrive after SIGCONT', async () => {
    const WARM = 100_000;
    const N = 1_000_000;
    const d = track(await startDaemon(['-max-lines', '1100000', '--max-bytes', '400000000']));
    const stalled = await startRsyslog({ dir: tmpDir(), relp: 0, template: 'compact' });
    track({ stop: () => stalled.stop() });
    const flowing = await startRsyslog({ dir: tmpDir(), tcp: 0, template: 'compact' });
    track({ stop: () => flowing.stop() });
    const lf = track(startLogforward(['-socket', d.query, '--state', path.join(tmpDir(), 'lf.state'),
      `relp://127.0.0.2:${stalled.ports.relp}`, `tcp://127.0.0.1:${flowing.ports.tcp}`]));
    const feed = new Feed(d.log, 'load');
    defer(() => feed.close());
    // warm up: both destinations busy for a while, so the heap has the size it works at
    offer(feed, 0, WARM);
    await waitFor(() => stalled.count('relp') > WARM && flowing.count('tcp') > WARM, 'the warm-up lines', 120_000, 100);

    await stalled.freeze();
    const pid = lf.proc.pid!;
    await sleep(200);
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5'); // VmHWM := VmRSS
    const before = rss(pid).now;
    offer(feed, WARM, N);
    await waitFor(() => flowing.count('tcp') > WARM + N, 'every line at the flowing server', 180_000, 200);
    const during = rss(pid);
    expect(stalled.count('relp')).toBe(WARM + 1); // frozen: nothing written meanwhile
    process.stdout.write(`logforward RSS ${before.toFixed(1)} MB before, peak ${during.peak.toFixed(1)} MB while rsyslog was stopped\n`);
    expect(during.peak - before).toBeLessThanOrEqual(20);

    stalled.thaw();
    await waitFor(() => stalled.count('relp') > WARM + N, 'every line at the resumed server', 180_000, 200);
    expect(await lf.stop()).toEqual({ code: 0, signal: null });
    expect(lf.stderr()).not.toMatch(/lost the connection/);
    expectEachOnce(stalled, 'relp', WARM + N);
    expectEachOnce(flowing, 'tcp', WARM + N);
  }, 420_000);
});
