// One destination's messages between reading and arrival: a bounded queue, what is in flight on
// the current connection, the position of the last message known to have arrived (`durable`),
// the mark every sent message lies below (written to the state before sending beyond it), and
// the count of messages sent again that the server may already have.
//
// Arrival: 'ack' transports acknowledge message ids; 'window' transports (TCP, TLS) report the
// bytes handed to the kernel, and a message has arrived once `unsure` more bytes followed it.
// For those, one position per SAMPLE_BYTES is kept (their window is megabytes of messages).

import type { Pending, Position, Tracker } from '../client/tracker.js';
import type { Message } from './message.js';
import type { SavedDestination } from './state.js';
import type { Transport } from './transport.js';

/** 'window' transports: positions kept at most every this many bytes. */
const SAMPLE_BYTES = 64 * 1024;
/** Marks closer together than this reach further ahead; MAX_MARK_AHEAD bounds how far (sequence numbers). */
const MARK_QUICK_MS = 200;
const MAX_MARK_AHEAD = 4096;

/**
 * One message, from the queue until it is known to have arrived. It is also a Position: the
 * position just after it (instance, seq, and the pieces of long lines pending then).
 */
interface Msg extends Position {
  instance: string;
  text: string;
  /** UTF-8 length of text. */
  bytes: number;
  /** Set when sent: its id on the connection, the connection's byte offset after it, messages sent up to it. */
  id: number;
  end: number;
  count: number;
}

/** The pending pieces of a position without any (shared: most positions have none). */
const NO_PENDING: Pending[] = [];

export interface OutboxHost {
  /** Saves the state now (before sending beyond a new mark). */
  saveNow(): void;
  /** Something arrived: save the state soon. */
  arrived(): void;
}

/** What a broken connection leaves unsure: how many messages, from which seq to which (of instance). */
export interface Unsure {
  count: number;
  from: number;
  to: number;
  instance: string;
}

export class Outbox {
  /** The position of the last message known to have arrived. */
  durable: Position;
  /** Every message sent so far is at or before this (instance, seq). */
  private mark: { instance: string; seq: number } | null;
  private markedAt = 0;
  private markAhead = 0;
  /** Messages sent again that the server may already have, counted until `until` is passed. */
  resend: { instance: string; until: number; count: number } | null = null;

  private queue: Array<Msg | undefined> = [];
  private qHead = 0;
  /** Bytes queued, not sent. */
  bytes = 0;
  private flight: Array<Msg | undefined> = [];
  private fHead = 0;
  private nextId = 0;
  private sentCount = 0;
  private settledCount = 0;
  private lastSent: Msg | null = null;
  /** The furthest message sent, on any connection. */
  private furthest: { instance: string; seq: number } | null = null;

  constructor(private readonly tracker: Tracker, saved: SavedDestination | null, private readonly host: OutboxHost) {
    this.durable = tracker.position();
    this.mark = saved?.sent ?? null;
    if (saved?.sent && saved.instance === saved.sent.instance && saved.sent.seq > saved.seq) {
      this.resend = { instance: saved.sent.instance, until: saved.sent.seq, count: 0 };
    }
  }

  /** Queues a message made from what the tracker just consumed. */
  push(m: Message): void {
    const t = this.tracker;
    this.queue.push({
      instance: t.instance!, seq: t.seq, pending: t.pending.size === 0 ? NO_PENDING : t.position().pending,
      text: m.text, bytes: m.bytes, id: -1, end: 0, count: 0,
    });
    this.bytes += m.bytes;
  }

  /** Sends what the transport takes. */
  sendTo(t: Transport): void {
    while (this.qHead < this.queue.length && t.ready) {
      t.batch(() => {
        while (this.qHead < this.queue.length && t.ready) this.sendOne(t);
      });
    }
    if (this.qHead === this.queue.length) {
      this.queue = [];
      this.qHead = 0;
    } else if (this.qHead > 4096) {
      this.queue = this.queue.slice(this.qHead);
      this.qHead = 0;
    }
  }

  private sendOne(t: Transport): void {
    const m = this.queue[this.qHead]!;
    this.queue[this.qHead++] = undefined;
    this.bytes -= m.bytes;
    if (!this.mark || this.mark.instance !== m.instance || this.mark.seq < m.seq) this.markFrom(m);
    m.id = this.nextId++;
    t.send(m.id, m.text, m.bytes);
    m.text = ''; // sent: only its position is kept
    m.end = t.offset;
    m.count = ++this.sentCount;
    this.lastSent = m;
    if (!this.furthest || this.furthest.instance !== m.instance || this.furthest.seq < m.seq) this.furthest = { instance: m.instance, seq: m.seq };
    if (this.resend && this.resend.instance === m.instance && m.seq <= this.resend.until) this.resend.count++;
    const n = this.flight.length;
    if (t.settles === 'window' && n - this.fHead >= 2 && this.flight[n - 1]!.end - this.flight[n - 2]!.end < SAMPLE_BYTES) this.flight[n - 1] = m;
    else this.flight.push(m);
  }

  /**
   * Records in the state that messages up to the last queued one (of this instance) may be sent.
   * While marks follow each other quickly (a backlog, a fast stream), the mark also reaches ahead in
   * sequence numbers, doubling up to MAX_MARK_AHEAD: the state is then written a few times a second
   * instead of once per batch, and after a kill -9 the count of messages sent again may include up
   * to that many that had not been sent.
   */
  private markFrom(m: Msg): void {
    let last: Msg = m;
    for (let i = this.queue.length - 1; i >= this.qHead; i--) {
      if (this.queue[i]!.instance === m.instance) {
        last = this.queue[i]!;
        break;
      }
    }
    const now = Date.now();
    this.markAhead = now - this.markedAt < MARK_QUICK_MS ? Math.min(MAX_MARK_AHEAD, Math.max(256, this.markAhead * 2)) : 0;
    this.markedAt = now;
    this.mark = { instance: last.instance, seq: Math.max(last.seq, m.seq + this.markAhead) };
    this.host.saveNow();
  }

  /** 'ack': every message up to id arrived. */
  acked(id: number): void {
    this.settleWhile((m) => m.id <= id);
  }

  /** 'window': bytes are in the kernel; what lies more than unsure bytes back arrived. */
  flushed(bytes: number, unsure: number): void {
    const limit = bytes - unsure;
    this.settleWhile((m) => m.end <= limit);
  }

  /** Everything sent arrived (a graceful end the server confirmed). */
  settleAll(): void {
    this.settleWhile(() => true);
  }

  private settleWhile(test: (m: Msg) => boolean): void {
    let last: Msg | undefined;
    while (this.fHead < this.flight.length && test(this.flight[this.fHead]!)) {
      last = this.flight[this.fHead];
      this.flight[this.fHead++] = undefined;
    }
    if (last) {
      this.durable = { instance: last.instance, seq: last.seq, pending: last.pending };
      this.settledCount = last.count;
      this.host.arrived();
    }
    if (this.fHead === this.flight.length) {
      this.flight = [];
      this.fHead = 0;
    } else if (this.fHead > 1024 && this.fHead * 2 > this.flight.length) {
      this.flight = this.flight.slice(this.fHead);
      this.fHead = 0;
    }
  }

  /**
   * The connection broke: forgets the queue and what was in flight (read again from `durable`),
   * and returns what was sent but is not known to have arrived (null: nothing). countAgain: those
   * will be sent again and may arrive twice (not for UDP, whose refused datagrams were not sent).
   */
  broke(countAgain: boolean): Unsure | null {
    const count = this.sentCount - this.settledCount;
    const last = this.lastSent;
    let unsure: Unsure | null = null;
    if (count > 0 && last) {
      unsure = { count, from: this.durable.instance === last.instance ? this.durable.seq + 1 : 0, to: last.seq, instance: last.instance };
      if (countAgain) {
        const r = this.resend?.instance === last.instance ? this.resend : null;
        this.resend = { instance: last.instance, until: Math.max(r?.until ?? -1, last.seq), count: r?.count ?? 0 };
      }
    }
    this.queue = [];
    this.qHead = this.bytes = 0;
    this.flight = [];
    this.fHead = this.nextId = this.sentCount = this.settledCount = 0;
    this.lastSent = null;
    return unsure;
  }

  /** The count of messages sent again, once reading has passed the last that may be a duplicate; null before. */
  resendDone(): { count: number; until: number; instance: string } | null {
    const r = this.resend;
    if (!r) return null;
    const t = this.tracker;
    const head = this.queue[this.qHead];
    if ((head !== undefined && head.instance === r.instance && head.seq <= r.until) || (t.instance === r.instance && t.seq < r.until)) return null;
    this.resend = null;
    return r;
  }

  /** Nothing more will be sent: the mark comes back to what was sent (a next start counts no more). */
  finish(): void {
    const r = this.resend;
    const f = this.furthest;
    if (r && (!f || (f.instance === r.instance && f.seq < r.until))) this.mark = { instance: r.instance, seq: r.until };
    else if (f) this.mark = { ...f };
  }

  /** What the state file keeps: the position to resume after, and the mark. */
  saved(): SavedDestination {
    const idle = this.fHead === this.flight.length && this.qHead === this.queue.length;
    const s: SavedDestination = { ...(idle ? this.tracker.position() : this.durable) };
    if (this.mark) s.sent = { ...this.mark };
    return s;
  }
}
