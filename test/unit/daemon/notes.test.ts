// The notes rate limiter on a fake clock: bursts per (kind, sender), summaries when a window ends,
// longer windows for a key that keeps flooding, a global cap for floods from many senders.

import { describe, expect, it } from 'vitest';
import { NoteLimiter, type NoteClock, type NoteLimits } from '../../../lib/daemon/notes.js';

const LIMITS: NoteLimits = { burst: 3, globalBurst: 10, windowMs: 30_000, maxWindowMs: 120_000, maxKeys: 100 };

/** A clock whose time moves only when told; due timers run as it passes them. */
class FakeClock implements NoteClock {
  t = 1_000_000;
  private timers: Array<{ at: number; fn: () => void; live: boolean }> = [];
  now(): number {
    return this.t;
  }
  schedule(fn: () => void, ms: number): () => void {
    const timer = { at: this.t + ms, fn, live: true };
    this.timers.push(timer);
    return () => void (timer.live = false);
  }
  advance(ms: number): void {
    const until = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.live && x.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.live = false;
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = until;
  }
  get pending(): number {
    return this.timers.filter((x) => x.live).length;
  }
}

function setup(limits = LIMITS) {
  const clock = new FakeClock();
  const out: string[] = [];
  const notes = new NoteLimiter((m) => out.push(m), limits, clock);
  return { clock, out, notes };
}

describe('NoteLimiter', () => {
  it('writes a burst per sender and kind, then one summary with the count and the last note', () => {
    const { clock, out, notes } = setup();
    for (let i = 0; i < 1000; i++) notes.note('no-fds', 'pid 7 uid 0', `datagram ${i} carried no fds`);
    expect(out).toEqual(['datagram 0 carried no fds', 'datagram 1 carried no fds', 'datagram 2 carried no fds']);
    clock.advance(30_000); // the window ends: the summary comes without another note
    expect(out).toHaveLength(4);
    expect(out[3]).toBe('suppressed 997 similar notes from pid 7 uid 0 in 30 s (memlogd writes at most 3 per 30 s); ' +
      'the last: datagram 999 carried no fds');
  });

  it('lets other senders and kinds through while one floods', () => {
    const { out, notes } = setup();
    for (let i = 0; i < 100; i++) notes.note('no-fds', 'pid 7 uid 0', 'flood');
    notes.note('not-allowed', 'pid 9 uid 1000', 'refused 1 fd(s) from pid 9 uid 1000');
    notes.note('no-fds', 'pid 8 uid 0', 'another sender');
    expect(out.slice(-2)).toEqual(['refused 1 fd(s) from pid 9 uid 1000', 'another sender']);
  });

  it('gives a key that keeps flooding no burst and doubling windows: a few lines per hour of flood', () => {
    const { clock, out, notes } = setup();
    for (let s = 0; s < 3600; s++) { // one hour, 10 notes a second
      for (let i = 0; i < 10; i++) notes.note('no-fds', 'pid 7 uid 0', `n ${s}.${i}`);
      clock.advance(1000);
    }
    const summaries = out.filter((m) => m.startsWith('suppressed'));
    expect(out.length - summaries.length).toBe(3); // the first burst only
    // windows of 30 s, 60 s, 120 s, then 120 s (the maximum here): 3 + (3600 - 210) / 120 = 31
    expect(summaries.length).toBeGreaterThanOrEqual(30);
    expect(summaries.length).toBeLessThanOrEqual(33);
    expect(summaries[1]).toMatch(/^suppressed 600 similar notes from pid 7 uid 0 in 60 s/);
    const counted = summaries.reduce((n, m) => n + Number(/^suppressed (\d+)/.exec(m)![1]), 0);
    clock.advance(200_000);
    const last = out.at(-1)!;
    expect(counted + Number(/^suppressed (\d+)/.exec(last)![1])).toBe(36_000 - 3);
  });

  it('forgets a key after a quiet window: it gets its burst again', () => {
    const { clock, out, notes } = setup();
    for (let i = 0; i < 5; i++) notes.note('no-fds', 'pid 7 uid 0', `a${i}`);
    clock.advance(30_000); // summary of 2
    clock.advance(60_000); // a window with nothing: the key is forgotten
    for (let i = 0; i < 5; i++) notes.note('no-fds', 'pid 7 uid 0', `b${i}`);
    expect(out).toEqual(['a0', 'a1', 'a2', expect.stringMatching(/^suppressed 2 similar/), 'b0', 'b1', 'b2']);
  });

  it('caps all senders together, and sums up the rest by kind', () => {
    const { clock, out, notes } = setup();
    for (let pid = 0; pid < 500; pid++) notes.note(pid % 2 ? 'no-fds' : 'bad-fd', `pid ${pid} uid 0`, `from ${pid}`);
    expect(out).toHaveLength(10);
    clock.advance(30_000);
    expect(out[10]).toBe('suppressed 490 notes from 100 or more senders in 30 s (memlogd writes at most 10 notes per 30 s): 245 bad-fd, 245 no-fds');
    // still flooding: the next window writes only its summary
    for (let pid = 0; pid < 50; pid++) notes.note('no-fds', `pid ${1000 + pid} uid 0`, 'x');
    clock.advance(60_000);
    expect(out.slice(11)).toEqual([expect.stringMatching(/^suppressed 50 notes from 50 senders in 60 s/)]);
  });

  it('bounds the keys it tracks; flush writes what is pending and stops its timer', () => {
    const { clock, out, notes } = setup({ ...LIMITS, maxKeys: 2, globalBurst: 100 });
    notes.note('k', 'a', 'a');
    notes.note('k', 'b', 'b');
    notes.note('k', 'c', 'c'); // a third key: counted globally
    for (let i = 0; i < 5; i++) notes.note('k', 'a', `a${i}`);
    expect(out).toEqual(['a', 'b', 'a0', 'a1']);
    notes.flush();
    expect(out.slice(4)).toEqual([expect.stringMatching(/^suppressed 3 similar notes from a .* the last: a4$/),
      expect.stringMatching(/^suppressed 1 note from 1 sender in 30 s .*: 1 k$/)]);
    expect(clock.pending).toBe(0);
  });
});
