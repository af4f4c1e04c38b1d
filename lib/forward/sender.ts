// One destination: its own memlogd connection (feed.ts), its position (client/tracker.ts), a
// bounded queue of formatted messages, and its connection to the server (transport.ts).
//
// Positions. `tracker` is where reading has got to; every queued or sent message carries the
// position just after it. `durable` is the position of the last message known to have arrived
// (RELP acknowledged, UDP taken by the kernel, TCP/TLS written more than `unsure` bytes ago):
// that is what the state file records, so a restart (even kill -9) loses nothing. When the
// connection breaks, reading starts again from `durable`, and the messages after it are sent
// again: that range is reported. Before a message beyond `sentMark` is sent, the state file
// records a new mark (the last queued message), so that after kill -9 the next process knows
// which messages it sends again may be duplicates, and says how many they were.
//
// Memory: the queue holds at most ~HIGH_BYTES (memlogd's socket is paused beyond it: the kernel
// and memlogd's store hold the rest); in flight there are at most `window` RELP messages, or the
// kernel's buffers for TCP. A destination that is down reads nothing, so it holds no one back.

import { Backoff, sleep } from '../client/backoff.js';
import { Tracker, type Pending, type Position, type Step } from '../client/tracker.js';
import { formatCursor } from '../protocol/cursor.js';
import { entrySeverity } from '../protocol/severity.js';
import { streamOf } from '../protocol/v1.js';
import { decodeRecord, type V2Record } from '../protocol/v2.js';
import { Feed } from './feed.js';
import { MessageFormatter, type Message } from './message.js';
import type { ForwardSettings } from './options.js';
import { reasonOf } from './socket.js';
import type { SavedDestination } from './state.js';
import { openTransport, type Transport } from './transport.js';
import type { Destination } from './uri.js';

/** Queued bytes beyond which memlogd is not read; below LOW_BYTES it is read again. */
const HIGH_BYTES = 256 * 1024;
const LOW_BYTES = 64 * 1024;
/** 'window' transports: positions kept at most every this many bytes (the window is megabytes). */
const SAMPLE_BYTES = 64 * 1024;
/** Marks closer together than this reach further ahead; MAX_MARK_AHEAD bounds how far (sequence numbers). */
const MARK_QUICK_MS = 200;
const MAX_MARK_AHEAD = 16_384;
/** A connection after a failure is reported once it has held this long. */
const CONFIRM_MS = 1000;
/** How long a graceful end waits for acknowledgements (SIGTERM). */
const END_TIMEOUT_MS = 3000;

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

/** What a sender needs from the command that runs it. */
export interface SenderHost {
  /** Saves every destination's state now; false when it could not (said already). */
  saveNow(): boolean;
  /** The state changed: save it within the save interval. */
  dirty(): void;
}

export class Sender {
  private readonly tracker: Tracker;
  private readonly fmt: MessageFormatter;
  private readonly feed: Feed;
  private readonly backoff: Backoff;
  private durable: Position;
  /** Every message sent so far is at or before this (instance, seq): recorded in the state before sending beyond it. */
  private sentMark: { instance: string; seq: number } | null;
  private markedAt = 0;
  private markAhead = 0;
  /** Messages sent again that the server may already have: counted until `until` is passed, then reported. */
  private resend: { instance: string; until: number; count: number } | null = null;

  private queue: Array<Msg | undefined> = [];
  private qHead = 0;
  private qBytes = 0;
  private flight: Array<Msg | undefined> = [];
  private fHead = 0;
  private nextId = 0;
  private sentCount = 0;
  private settledCount = 0;
  private lastSent: Position | null = null;
  /** The furthest message sent by this process, on any connection. */
  private lastSentEver: { instance: string; seq: number } | null = null;

  private transport: Transport | null = null;
  private broken: ((err: Error | null) => void) | null = null;
  private stopped = false;
  private pumping = false;
  /** Aborted by stop(): cuts a wait short. */
  private readonly stopping = new AbortController();
  private runDone: Promise<void> = Promise.resolve();
  private readonly said = new Map<string, string>();
  private anomalies = 0;
  /** The current memlogd connection asked for entries after a cursor. */
  private requestedAfter = false;
  /** Why the last connection attempt failed or the last connection broke; null once a connection held. */
  private failure: string | null = null;
  private confirm: NodeJS.Timeout | null = null;

  constructor(readonly d: Destination, private readonly o: ForwardSettings, hostname: string, saved: SavedDestination | null,
    private readonly host: SenderHost) {
    this.tracker = new Tracker({ maxLineBytes: d.maxSize, overflow: 'drop' }, saved);
    this.durable = this.tracker.position();
    this.sentMark = saved?.sent ?? null;
    if (saved?.sent && saved.instance === saved.sent.instance && saved.sent.seq > saved.seq) {
      this.resend = { instance: saved.sent.instance, until: saved.sent.seq, count: 0 };
    }
    this.fmt = new MessageFormatter({ format: d.format, hostname, sdId: o.sdId, facility: d.facility, maxSize: d.maxSize });
    this.backoff = new Backoff(o.backoffMinMs, o.backoffMaxMs);
    const filters: ConstructorParameters<typeof Feed>[0]['filters'] = {};
    if (d.sources.length) filters.sources = d.sources;
    if (d.exclude.length) filters.exclude = d.exclude;
    if (d.stream) filters.stream = d.stream;
    this.feed = new Feed({
      socket: o.socket, filters, backoffMinMs: o.backoffMinMs, backoffMaxMs: o.backoffMaxMs,
      after: () => this.cursor,
      connected: (requestedAfter) => {
        this.requestedAfter = requestedAfter;
        this.tracker.reconnect();
      },
      lines: (lines) => this.onLines(lines),
      say: (msg) => this.say('memlogd', msg),
    });
  }

  /** The cursor reading resumes after (`<instance>:<seq>`), or null for everything memlogd holds. */
  get cursor(): string | null {
    const a = this.tracker.after;
    return a ? formatCursor(a.instance, a.seq) : null;
  }

  /** What the state file keeps for this destination. */
  saved(): SavedDestination {
    const pos = this.flightEmpty() && this.qHead === this.queue.length ? this.tracker.position() : this.durable;
    const s: SavedDestination = { ...pos };
    if (this.sentMark) s.sent = { ...this.sentMark };
    return s;
  }

  /** One line per state change of a topic (the server, memlogd). */
  private say(topic: string, msg: string): void {
    if (this.said.get(topic) === msg) return;
    this.said.set(topic, msg);
    this.o.log(`${this.d.label}: ${msg}`);
  }

  start(): void {
    if (this.d.tls && !this.d.tls.verify) this.o.log(`${this.d.label}: certificate verification is off (verify=off): any server can receive these logs`);
    if (this.resend) {
      this.o.log(`${this.d.label}: resuming after ${this.cursor}; messages up to seq ${this.resend.until} may have been sent before `
        + 'the restart: those sent again are counted');
    }
    this.runDone = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let t: Transport;
      let closed!: Promise<Error | null>;
      try {
        const onClosed = new Promise<Error | null>((resolve) => (this.broken = resolve));
        t = await openTransport(this.d, {
          acked: (id) => this.transport === t && this.onAcked(id),
          flushed: (bytes) => this.transport === t && this.onFlushed(bytes),
          drain: () => this.transport === t && this.pump(),
          closed: (err) => this.transport === t && this.broken?.(err),
        }, this.stopping.signal);
        closed = onClosed;
      } catch (err) {
        if (this.stopped) break;
        this.failure = reasonOf(err as Error);
        this.say('server', `cannot connect: ${this.failure}; retrying`);
        await sleep(this.backoff.next(), this.stopping.signal);
        continue;
      }
      if (this.stopped) {
        t.destroy();
        break;
      }
      this.transport = t;
      const c = this.cursor;
      const connected = `connected; sending ${c ? `after ${c}` : 'everything memlogd holds'}`;
      // After a failure, a connection counts as a change of state once it has lasted a moment:
      // a server that accepts and then drops every connection (or refuses every datagram) is one state.
      if (this.failure === null) this.say('server', connected);
      else {
        this.confirm = setTimeout(() => {
          this.confirm = null;
          this.failure = null;
          this.say('server', connected);
          this.checkResend();
        }, CONFIRM_MS);
      }
      this.feed.start();
      const err = await closed;
      if (this.confirm) clearTimeout(this.confirm);
      this.confirm = null;
      if (this.stopped && err === null) break; // stop() ended it
      await this.onBreak(t, err ?? new Error('closed'));
      if (this.stopped) break;
      await sleep(this.backoff.next(), this.stopping.signal);
    }
  }

  /** Ends gracefully: reading stops, what is in flight is waited for (a few seconds at most), the connection closed. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    await this.feed.stop();
    const t = this.transport;
    if (t) {
      if (await t.end(END_TIMEOUT_MS)) this.settleAll();
      this.transport = null;
      this.broken?.(null);
    }
    await this.runDone;
    // Nothing more will be sent: the mark comes back to what was (a next start counts no more than that).
    const r = this.resend;
    const sent = this.lastSentEver;
    if (r && (!sent || (sent.instance === r.instance && sent.seq < r.until))) this.sentMark = { instance: r.instance, seq: r.until };
    else if (sent) this.sentMark = { ...sent };
    if (r && r.count > 0) this.reportResend();
  }

  /** The connection broke: report what may not have arrived, and go back to the last position known to have. */
  private async onBreak(t: Transport, err: Error): Promise<void> {
    this.transport = null;
    t.destroy();
    await this.feed.stop();
    const unsettled = this.sentCount - this.settledCount;
    const why = reasonOf(err);
    const same = this.failure === why;
    this.failure = why;
    // A datagram the kernel refused (ECONNREFUSED: nobody listens) was not sent, nor those after it.
    if (unsettled > 0 && this.lastSent && this.d.transport !== 'udp') {
      // (a server that drops every connection the same way is said once; the count goes on)
      if (!same) {
        const from = this.durable.instance === this.lastSent.instance ? this.durable.seq + 1 : 0;
        const what = t.settles === 'ack' ? 'were sent but not acknowledged' : 'may not have arrived';
        this.o.log(`${this.d.label}: lost the connection (${why}); ${unsettled} message${unsettled === 1 ? '' : 's'} `
          + `(seq ${from}-${this.lastSent.seq}) ${what}: sending them again`);
        this.said.set('server', '');
      }
      const inst = this.lastSent.instance!;
      const until = this.resend && this.resend.instance === inst ? Math.max(this.resend.until, this.lastSent.seq) : this.lastSent.seq;
      this.resend = { instance: inst, until, count: this.resend?.instance === inst ? this.resend.count : 0 };
    } else if (!same) {
      this.say('server', this.d.transport === 'udp' ? `the server refuses datagrams (${why}): nothing listens there; retrying`
        : `lost the connection (${why}); reconnecting`);
    }
    // Back to what is known to have arrived; the rest is read from memlogd again.
    this.tracker.restore(this.durable);
    this.host.saveNow(); // the position a restart would start from, now that reading starts over there
    this.queue = [];
    this.qHead = this.qBytes = 0;
    this.flight = [];
    this.fHead = this.nextId = this.sentCount = this.settledCount = 0;
    this.lastSent = null;
  }

  // --- reading ---

  private onLines(lines: string[]): void {
    const t = this.tracker;
    for (const line of lines) {
      let rec: V2Record;
      try {
        rec = decodeRecord(line);
      } catch (err) {
        this.say('memlogd', (err as Error).message);
        this.feed.drop();
        break;
      }
      if (rec.type === undefined) {
        if (t.simple(rec)) {
          t.consumed(rec);
          if (entrySeverity(rec.severity, rec.stream) <= this.d.minSeverity) this.enqueue(this.fmt.entry(rec, t.instance!));
          continue;
        }
        this.apply(t.entry(rec));
        continue;
      }
      switch (rec.type) {
        case 'start':
          this.say('memlogd', `reading memlogd at ${this.o.socket} (instance ${rec.instance})`);
          this.apply(t.start(rec, this.requestedAfter));
          break;
        case 'gap':
          this.apply(t.gap(rec));
          break;
        case 'end':
          this.apply(t.end(rec.next));
          break;
        case 'error':
          this.say('memlogd', `memlogd refused the request: ${rec.code}: ${rec.message}`);
          this.feed.drop();
          return;
        default:
          break;
      }
    }
    if (t.duplicates + t.unreported > this.anomalies) {
      this.anomalies = t.duplicates + t.unreported;
      this.o.log(`${this.d.label}: memlogd does not follow the protocol: ${t.duplicates} entries sent again or out of order (not sent), `
        + `${t.unreported} entries skipped without a gap record (sent as gap messages)`);
    }
    if (this.qBytes >= HIGH_BYTES) this.feed.pause();
    this.pump();
  }

  private apply(steps: Step[]): void {
    for (const s of steps) {
      let data: Message | null = null;
      const out = s.out;
      if (out?.kind === 'line') {
        const l = out.line;
        if (entrySeverity(l.severity, streamOf(l.source)) <= this.d.minSeverity) data = this.fmt.line(l, this.tracker.instance ?? '-');
      } else if (out?.kind === 'gap') {
        data = this.fmt.gap(out.gap, out.instance !== undefined ? out.instance : this.tracker.instance, Date.now(), out.note);
      }
      s.apply();
      if (data) this.enqueue(data);
    }
  }

  private enqueue(m: Message): void {
    const t = this.tracker;
    this.queue.push({
      instance: t.instance!, seq: t.seq, pending: t.pending.size === 0 ? NO_PENDING : t.position().pending,
      text: m.text, bytes: m.bytes, id: -1, end: 0, count: 0,
    });
    this.qBytes += m.bytes;
  }

  // --- sending ---

  private pump(): void {
    const t = this.transport;
    if (!t || this.pumping) return;
    this.pumping = true;
    try {
      while (this.qHead < this.queue.length && t.ready && this.transport === t) {
        t.batch(() => {
          while (this.qHead < this.queue.length && t.ready) this.sendOne(t);
        });
      }
    } finally {
      this.pumping = false;
    }
    if (this.qHead === this.queue.length) {
      this.queue = [];
      this.qHead = 0;
    } else if (this.qHead > 4096) {
      this.queue = this.queue.slice(this.qHead);
      this.qHead = 0;
    }
    if (this.qBytes < LOW_BYTES) this.feed.resume();
    this.checkResend();
  }

  private sendOne(t: Transport): void {
    const m = this.queue[this.qHead]!;
    this.queue[this.qHead++] = undefined;
    this.qBytes -= m.bytes;
    if (!this.sentMark || this.sentMark.instance !== m.instance || this.sentMark.seq < m.seq) this.mark(m);
    m.id = this.nextId++;
    t.send(m.id, m.text, m.bytes);
    m.text = ''; // sent: only its position is kept
    this.sentCount++;
    m.end = t.offset;
    m.count = this.sentCount;
    this.lastSent = m;
    if (!this.lastSentEver || this.lastSentEver.instance !== m.instance || this.lastSentEver.seq < m.seq) {
      this.lastSentEver = { instance: m.instance, seq: m.seq };
    }
    if (this.resend && this.resend.instance === m.instance && m.seq <= this.resend.until) this.resend.count++;
    // 'window': one position per SAMPLE_BYTES is enough (and the window is megabytes of messages)
    const n = this.flight.length;
    if (t.settles === 'window' && n - this.fHead >= 2 && this.flight[n - 1]!.end - this.flight[n - 2]!.end < SAMPLE_BYTES) this.flight[n - 1] = m;
    else this.flight.push(m);
  }

  /**
   * Records in the state file that messages up to the last queued one (of this instance) may be
   * sent. While marks follow each other quickly (a backlog, a fast stream), the mark also reaches
   * ahead in sequence numbers, doubling up to MAX_MARK_AHEAD: the state is then written a few
   * times a second instead of once per batch, and after a kill -9 the count of messages sent again
   * may include up to that many that were not sent before.
   */
  private mark(m: Msg): void {
    let last: Msg = m;
    for (let i = this.queue.length - 1; i >= this.qHead; i--) {
      const q = this.queue[i]!;
      if (q.instance === m.instance) {
        last = q;
        break;
      }
    }
    const now = Date.now();
    this.markAhead = now - this.markedAt < MARK_QUICK_MS ? Math.min(MAX_MARK_AHEAD, Math.max(256, this.markAhead * 2)) : 0;
    this.markedAt = now;
    this.sentMark = { instance: last.instance, seq: Math.max(last.seq, m.seq + this.markAhead) };
    this.host.saveNow();
  }

  private flightEmpty(): boolean {
    return this.fHead === this.flight.length;
  }

  private settle(f: Msg): void {
    this.durable = { instance: f.instance, seq: f.seq, pending: f.pending };
    this.settledCount = f.count;
    this.backoff.reset();
    this.host.dirty();
  }

  private settleAll(): void {
    let last: Msg | undefined;
    while (!this.flightEmpty()) last = this.flight[this.fHead++];
    if (last) this.settle(last);
    this.flight = [];
    this.fHead = 0;
  }

  private onAcked(id: number): void {
    this.settleWhile((m) => m.id <= id);
    this.pump();
  }

  private onFlushed(bytes: number): void {
    const limit = bytes - this.transport!.unsure;
    this.settleWhile((m) => m.end <= limit);
  }

  /** The oldest messages in flight, as long as they pass test, have arrived. */
  private settleWhile(test: (m: Msg) => boolean): void {
    let last: Msg | undefined;
    while (!this.flightEmpty() && test(this.flight[this.fHead]!)) {
      last = this.flight[this.fHead];
      this.flight[this.fHead++] = undefined;
    }
    if (last) this.settle(last);
    this.compactFlight();
  }

  private compactFlight(): void {
    if (this.flightEmpty()) {
      this.flight = [];
      this.fHead = 0;
    } else if (this.fHead > 1024 && this.fHead * 2 > this.flight.length) {
      this.flight = this.flight.slice(this.fHead);
      this.fHead = 0;
    }
  }

  /** Once reading has passed the last message that may be a duplicate, says how many were sent again. */
  private checkResend(): void {
    const r = this.resend;
    if (!r || this.failure !== null) return; // said once a connection holds again
    const t = this.tracker;
    const head = this.queue[this.qHead];
    const queuedBefore = head !== undefined && head.instance === r.instance && head.seq <= r.until;
    if (queuedBefore || (t.instance === r.instance && t.seq < r.until)) return;
    this.reportResend();
  }

  private reportResend(): void {
    const r = this.resend!;
    this.resend = null;
    this.o.log(`${this.d.label}: sent again ${r.count} message${r.count === 1 ? '' : 's'} that the server may already have `
      + `(up to seq ${r.until} of instance ${r.instance})`);
  }

  /** Messages queued and not sent (for tests and the bench). */
  get queuedBytes(): number {
    return this.qBytes;
  }
}
