// The query socket: modes 0/1/2, silent and confused clients, complete delivery, lag reporting.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { dump, Follow, handOff, queryRaw, startDaemon, waitFor, waitForEntry, type RunningDaemon } from '../support/helpers.js';

let d: RunningDaemon | undefined;
afterEach(async () => {
  await d?.stop();
  d = undefined;
});

describe('query modes', () => {
  it('mode 0 dumps and closes; mode 1 sees only new entries; mode 2 sees both', async () => {
    d = await startDaemon();
    handOff(d.log, 'before', 'old line\n');
    await waitForEntry(d.query, (e) => e.msg === 'old line', 'old line');
    const follow = new Follow(d.query, 1);
    const both = new Follow(d.query, 2);
    await both.until(2, 'dump part of mode 2');
    // mode 1 gets no history: give it a moment to be registered, then add a line
    await new Promise((r) => setTimeout(r, 200));
    handOff(d.log, 'after', 'new line\n');
    await follow.until(1);
    await both.until(3);
    expect(follow.entries.map((e) => e.msg)).toEqual(['new line']);
    expect(both.entries.map((e) => e.msg)).toEqual(['memlogd started', 'old line', 'new line']);
    expect(follow.closed).toBe(false);
    const dumped = await dump(d.query);
    expect(dumped.map((e) => e.msg)).toEqual(['memlogd started', 'old line', 'new line']);
    follow.close();
    both.close();
  });

  it('a client that sends nothing delays nobody, and an unknown mode byte is closed', async () => {
    d = await startDaemon();
    const silent = Array.from({ length: 20 }, () => net.createConnection({ path: d!.query }));
    await Promise.all(silent.map((s) => new Promise((r) => s.once('connect', r))));
    const t0 = Date.now();
    const rows = await dump(d.query);
    expect(rows.map((e) => e.msg)).toContain('memlogd started');
    expect(Date.now() - t0).toBeLessThan(5000);
    const bad = await queryRaw(d.query, 7);
    expect(bad.length).toBe(0);
    const logged = await waitForEntry(d.query, (e) => e.source === 'memlogd' && e.msg.includes('unknown mode byte 7'), 'refusal logged');
    expect(logged.length).toBeGreaterThan(1);
    for (const s of silent) s.destroy();
  });

  it('a follower that keeps up receives every one of 200,000 lines, in order', async () => {
    d = await startDaemon(); // default 5000-line store: the lines pass through it 40 times
    const f = new Follow(d.query, 1);
    await new Promise((r) => setTimeout(r, 200));
    const TOTAL = 200_000;
    const BATCH = 2_000;
    for (let b = 0; b < TOTAL / BATCH; b++) {
      let text = '';
      for (let i = b * BATCH; i < (b + 1) * BATCH; i++) text += `line ${i} ${'x'.repeat(80)}\n`;
      handOff(d.log, 'firehose.out', text);
      await f.until((b + 1) * BATCH, `batch ${b}`); // the writer waits for the reader: it keeps up
    }
    expect(f.entries.length).toBe(TOTAL);
    expect(f.entries.every((e, i) => e.source === 'firehose.out' && e.msg.startsWith(`line ${i} `))).toBe(true);
    f.close();
  });

  it('a follower that stalls briefly loses nothing, though the store holds only 1000 lines', async () => {
    d = await startDaemon(['-max-lines', '1000']);
    const f = new Follow(d.query, 1);
    await new Promise((r) => setTimeout(r, 200));
    f.sock.pause();
    let text = '';
    for (let i = 0; i < 30_000; i++) text += `s ${i}\n`;
    handOff(d.log, 'burst', text);
    await waitForEntry(d.query, (e) => e.msg === 's 29999', 'burst stored');
    expect((await dump(d.query)).filter((e) => e.source === 'burst').length).toBeLessThanOrEqual(1000);
    f.sock.resume();
    await waitFor(() => f.entries.some((e) => e.msg === 's 29999'), 'reader to catch up');
    expect(f.entries.map((e) => e.msg)).toEqual(Array.from({ length: 30_000 }, (_, i) => `s ${i}`));
    f.close();
  });

  it('a reader that falls behind is told how many entries it missed', async () => {
    d = await startDaemon(['-max-lines', '1000']);
    const f = new Follow(d.query, 1);
    await new Promise((r) => setTimeout(r, 200));
    f.sock.pause(); // stop reading: memlogd must neither block nor grow
    // more than the store's physical room (1000 lines + 64k slots of slack kept for followers)
    const TOTAL = 200_000;
    let text = '';
    for (let i = 0; i < TOTAL; i++) text += `n ${i} ${'y'.repeat(60)}\n`;
    handOff(d.log, 'flood', text);
    await waitForEntry(d.query, (e) => e.msg.startsWith(`n ${TOTAL - 1} `), 'last line stored');
    f.sock.resume();
    await f.until(1);
    await waitFor(() => f.entries.some((e) => e.msg.startsWith(`n ${TOTAL - 1} `)), 'reader to catch up');
    const gaps = f.entries.filter((e) => e.source === 'memlogd' && e.msg.startsWith('gap:'));
    const lines = f.entries.filter((e) => e.source === 'flood');
    expect(gaps.length).toBeGreaterThan(0);
    expect(gaps[0].msg).toMatch(/fell behind and missed \d+ entr/);
    const missed = gaps.reduce((n, g) => n + Number(/missed (\d+) entr/.exec(g.msg)![1]), 0);
    // every line is either delivered or counted as missed, never both, never neither
    expect(lines.length + missed).toBe(TOTAL);
    const nums = lines.map((e) => Number(e.msg.split(' ')[1]));
    expect([...nums].sort((a, b) => a - b)).toEqual(nums);
    f.close();
  });
});
