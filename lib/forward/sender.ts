// One destination: its own memlogd connection (feed.ts), its position (client/tracker.ts), the
// messages between reading and arrival (outbox.ts), and its connection to the server
// (transport.ts), reconnected with backoff.
//
// When the connection breaks, reading starts again from the position of the last message known
// to have arrived, and the messages after it are sent again: logforward says how many and which,
// and later how many it sent again that the server may already have. A destination that is down
// reads nothing, so it holds no other back; one whose server is slow stops reading memlogd when
// its queue is full (memlogd keeps the entries).

import { Backoff, sleep } from '../client/backoff.js';
import { Tracker, type Step } from '../client/tracker.js';
import { decodeRecord, type V2Record } from '../protocol/v2.js';
import { Feed } from './feed.js';
import { MessageFormatter, type Message } from './message.js';
import { Outbox } from './outbox.js';
import type { ForwardSettings } from './options.js';
import { reasonOf } from './socket.js';
import type { SavedDestination } from './state.js';
import { openTransport, type Transport } from './transport.js';
import type { Destination } from './uri.js';

/** Queued bytes beyond which memlogd is not read; below LOW_BYTES it is read again. */
const HIGH_BYTES = 256 * 1024;
const LOW_BYTES = 64 * 1024;
/** A connection after a failure is reported once it has held this long. */
const CONFIRM_MS = 1000;
/** How long a graceful end waits for acknowledgements (SIGTERM). */
const END_TIMEOUT_MS = 3000;

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
  private readonly out: Outbox;

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
    const filtered = d.sources.length > 0 || d.exclude.length > 0 || d.stream !== undefined || d.minSeverity < 7;
    this.tracker = new Tracker({ maxLineBytes: d.maxSize, overflow: 'drop', filtered }, saved);
    this.out = new Outbox(this.tracker, saved, {
      saveNow: () => host.saveNow(),
      arrived: () => {
        this.backoff.reset();
        host.dirty();
      },
    });
    this.fmt = new MessageFormatter({ format: d.format, hostname, sdId: o.sdId, facility: d.facility, maxSize: d.maxSize });
    this.backoff = new Backoff(o.backoffMinMs, o.backoffMaxMs);
    const filters: ConstructorParameters<typeof Feed>[0]['filters'] = {};
    if (d.sources.length) filters.sources = d.sources;
    if (d.exclude.length) filters.exclude = d.exclude;
    if (d.stream) filters.stream = d.stream;
    // memlogd applies every filter, severity included: what arrives is what is wanted (a memlogd
    // that does not know a filter refuses the request rather than ignoring it)
    if (d.minSeverity < 7) filters.priority = d.minSeverity;
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
    return this.tracker.cursor;
  }

  /** What the state file keeps for this destination. */
  saved(): SavedDestination {
    return this.out.saved();
  }

  /** One line per state change of a topic (the server, memlogd). */
  private say(topic: string, msg: string): void {
    if (this.said.get(topic) === msg) return;
    this.said.set(topic, msg);
    this.o.log(`${this.d.label}: ${msg}`);
  }

  start(): void {
    if (this.d.tls && !this.d.tls.verify) this.o.log(`${this.d.label}: certificate verification is off (verify=off): any server can receive these logs`);
    if (this.out.resend) {
      this.o.log(`${this.d.label}: resuming after ${this.cursor}; messages up to seq ${this.out.resend.until} may have been sent before `
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
          acked: (id) => {
            if (this.transport !== t) return;
            this.out.acked(id);
            this.pump();
          },
          flushed: (bytes) => this.transport === t && this.out.flushed(bytes, t.unsure),
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
      if (await t.end(END_TIMEOUT_MS)) this.out.settleAll();
      this.transport = null;
      this.broken?.(null);
    }
    await this.runDone;
    this.out.finish();
    const r = this.out.resend;
    if (r && r.count > 0) this.reportResend(r);
  }

  /** The connection broke: report what may not have arrived, and go back to the last position known to have. */
  private async onBreak(t: Transport, err: Error): Promise<void> {
    this.transport = null;
    t.destroy();
    await this.feed.stop();
    const why = reasonOf(err);
    const same = this.failure === why;
    this.failure = why;
    // A datagram the kernel refused (ECONNREFUSED: nobody listens) was not sent, nor those after it.
    const udp = this.d.transport === 'udp';
    const durable = this.out.durable;
    const unsure = this.out.broke(!udp);
    if (unsure && !udp) {
      // (a server that drops every connection the same way is said once; the count goes on)
      if (!same) {
        const what = t.settles === 'ack' ? 'were sent but not acknowledged' : 'may not have arrived';
        this.o.log(`${this.d.label}: lost the connection (${why}); ${unsure.count} message${unsure.count === 1 ? '' : 's'} `
          + `(seq ${unsure.from}-${unsure.to}) ${what}: sending them again`);
        this.said.set('server', '');
      }
    } else if (!same) {
      this.say('server', udp ? `the server refuses datagrams (${why}): nothing listens there; retrying`
        : `lost the connection (${why}); reconnecting`);
    }
    // Back to what is known to have arrived; the rest is read from memlogd again.
    this.tracker.restore(durable);
    this.host.saveNow(); // the position a restart would start from, now that reading starts over there
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
          this.out.push(this.fmt.entry(rec, t.instance!));
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
          // nothing follows an error record: the connection is dropped and tried again later
          this.say('memlogd', `memlogd refused the request: ${rec.code}: ${rec.message}`);
          this.feed.drop();
          break;
        default:
          break;
      }
      if (rec.type === 'error') break;
    }
    if (t.duplicates + t.unreported > this.anomalies) {
      this.anomalies = t.duplicates + t.unreported;
      this.o.log(`${this.d.label}: memlogd does not follow the protocol: ${t.duplicates} entries sent again or out of order (not sent), `
        + `${t.unreported} entries skipped without a gap record (sent as gap messages)`);
    }
    if (this.out.bytes >= HIGH_BYTES) this.feed.pause();
    this.pump();
  }

  private apply(steps: Step[]): void {
    for (const s of steps) {
      let data: Message | null = null;
      const out = s.out;
      if (out?.kind === 'line') {
        const l = out.line;
        data = this.fmt.line(l, this.tracker.instance ?? '-');
      } else if (out?.kind === 'gap') {
        data = this.fmt.gap(out.gap, out.instance !== undefined ? out.instance : this.tracker.instance, Date.now(), out.note);
      }
      s.apply();
      if (data) this.out.push(data);
    }
  }

  // --- sending ---

  private pump(): void {
    const t = this.transport;
    if (!t || this.pumping) return;
    this.pumping = true;
    try {
      this.out.sendTo(t);
    } finally {
      this.pumping = false;
    }
    if (this.out.bytes < LOW_BYTES) this.feed.resume();
    this.checkResend();
  }

  /** Once reading has passed the last message that may be a duplicate, says how many were sent again. */
  private checkResend(): void {
    if (this.failure !== null) return; // said once a connection holds again
    const r = this.out.resendDone();
    if (r) this.reportResend(r);
  }

  private reportResend(r: { count: number; until: number; instance: string }): void {
    this.o.log(`${this.d.label}: sent again ${r.count} message${r.count === 1 ? '' : 's'} that the server may already have `
      + `(up to seq ${r.until} of instance ${r.instance})`);
  }
}
