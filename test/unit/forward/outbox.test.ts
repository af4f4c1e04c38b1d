// logforward's bookkeeping between reading and arrival, with a transport that only records:
// what counts as arrived for acknowledged and for window transports, what a broken connection
// leaves unsure, the sent mark written before sending beyond it, and the count of what is sent again.

import { describe, expect, it } from 'vitest';
import { Tracker } from '../../../lib/client/tracker.js';
import { Outbox } from '../../../lib/forward/outbox.js';
import type { Transport } from '../../../lib/forward/transport.js';
import type { V2Entry } from '../../../lib/protocol/v2.js';

class FakeTransport implements Transport {
  sent: number[] = [];
  offset = 0;
  room = Infinity;
  constructor(readonly settles: 'ack' | 'window', readonly unsure = 0) {}
  get ready(): boolean {
    return this.sent.length < this.room;
  }
  send(id: number, _text: string, bytes: number): void {
    this.sent.push(id);
    this.offset += bytes;
  }
  batch(fn: () => void): void {
    fn();
  }
  end(): Promise<boolean> {
    return Promise.resolve(true);
  }
  destroy(): void {}
}

const e = (seq: number): V2Entry => ({ seq, time: '2026-11-21T05:40:00Z', source: 's', stream: 'stderr', msg: `m${seq}` });

function setup(saved: ConstructorParameters<typeof Outbox>[1] = null) {
  const tracker = new Tracker({ maxLineBytes: 1000, overflow: 'drop' }, saved);
  if (!saved) tracker.start({ type: 'start', instance: 'aa', oldest: 0, next: 0 }, false).forEach((s) => s.apply());
  const saves: string[] = [];
  let arrivals = 0;
  const out = new Outbox(tracker, saved, { saveNow: () => saves.push(JSON.stringify(out.saved())), arrived: () => arrivals++ });
  /** Reads entries seq from..to, one message of 100 bytes each. */
  const read = (from: number, to: number) => {
    for (let s = from; s <= to; s++) {
      tracker.consumed(e(s));
      out.push({ text: 'x'.repeat(100), bytes: 100 });
    }
  };
  return { tracker, out, read, saves, arrivals: () => arrivals };
}

describe('outbox', () => {
  it('acknowledged transports: a message arrived when acknowledged; the state names the last of them', () => {
    const { out, read, saves } = setup();
    const t = new FakeTransport('ack');
    read(0, 9);
    out.sendTo(t);
    expect(t.sent).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // before sending, the mark covered everything queued
    expect(saves.map((s) => JSON.parse(s).sent)).toEqual([{ instance: 'aa', seq: 9 }]);
    expect(out.saved()).toMatchObject({ instance: 'aa', seq: -1 });
    out.acked(3);
    expect(out.saved()).toMatchObject({ instance: 'aa', seq: 3, sent: { instance: 'aa', seq: 9 } });
    out.acked(9);
    expect(out.saved()).toMatchObject({ seq: 9 });
  });

  it('a broken connection: the unacknowledged range, read again from the last arrival, counted as sent again', () => {
    const { tracker, out, read } = setup();
    const t = new FakeTransport('ack');
    read(0, 9);
    out.sendTo(t);
    out.acked(5);
    expect(out.broke(true)).toEqual({ count: 4, from: 6, to: 9, instance: 'aa' });
    expect(out.bytes).toBe(0);
    tracker.restore(out.durable);
    expect(tracker.after).toEqual({ instance: 'aa', seq: 5 });
    // sent again on a new connection: 6..9 counted, then the count is said once reading passed 9
    const t2 = new FakeTransport('ack');
    read(6, 8);
    out.sendTo(t2);
    expect(out.resendDone()).toBeNull();
    read(9, 12);
    out.sendTo(t2);
    expect(out.resendDone()).toEqual({ instance: 'aa', until: 9, count: 4 });
    expect(out.resendDone()).toBeNull();
  });

  it('window transports: what lies more than unsure bytes back arrived; positions kept every 64 KiB', () => {
    const { out, read } = setup();
    const t = new FakeTransport('window', 50_000);
    read(0, 1999); // 200,000 bytes
    out.sendTo(t);
    out.flushed(200_000, t.unsure);
    // 150,000 bytes are known to have arrived, to the last kept position at or before them
    const seq = out.saved().seq;
    expect(seq).toBeGreaterThanOrEqual(1500 - 656);
    expect(seq).toBeLessThan(1500);
    const u = out.broke(true)!;
    expect(u).toMatchObject({ from: seq + 1, to: 1999, count: 1999 - seq });
  });

  it('after a restart from a state with a mark: what is sent up to it is counted; a clean finish brings the mark back', () => {
    const saved = { instance: 'aa', seq: 4, pending: [], sent: { instance: 'aa', seq: 7 } };
    const { out, read } = setup(saved);
    expect(out.resend).toEqual({ instance: 'aa', until: 7, count: 0 });
    const t = new FakeTransport('ack');
    read(5, 8);
    out.sendTo(t);
    expect(out.resendDone()).toEqual({ instance: 'aa', until: 7, count: 3 });
    out.acked(3);
    out.finish();
    expect(out.saved()).toMatchObject({ seq: 8, sent: { instance: 'aa', seq: 8 } });
  });

  it('a full transport leaves the rest queued; its bytes count toward pausing memlogd', () => {
    const { out, read } = setup();
    const t = new FakeTransport('ack');
    t.room = 3;
    read(0, 9);
    out.sendTo(t);
    expect(t.sent).toEqual([0, 1, 2]);
    expect(out.bytes).toBe(700);
    t.room = Infinity;
    out.sendTo(t);
    expect(out.bytes).toBe(0);
  });
});
