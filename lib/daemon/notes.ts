// memlogd's own notes (refused datagrams, timed-out clients, ...) are rate-limited, per sender
// and kind, with a summary of what was held back, as journald does for services
// (RateLimitIntervalSec=30s, RateLimitBurst). Without it, one note per bad datagram lets a sender
// write under source `memlogd` as fast as it can send, and the store's fairness then evicts
// memlogd's own oldest notes (the real refusals among them) to make room for the flood.
//
// - Each (kind, sender) may write `burst` notes per window; what comes beyond is counted, and
//   once the window ends one summary says how many similar notes were suppressed, and the last.
// - A key still flooding gets no burst in its next window, only the summary, and that window is
//   twice as long (up to maxWindowMs): a sender flooding for hours costs a few dozen lines.
// - All keys together may write `globalBurst` notes per window (many senders, each under its
//   own burst); beyond that, notes are counted by kind into one summary, with the same doubling.
// - Distinct keys tracked at once are bounded (maxKeys); notes of keys beyond it count as global.
//
// Pure: time and timers come from the caller.

export interface NoteLimits {
  /** Notes one (kind, sender) writes per window before the rest are counted. */
  burst: number;
  /** Notes all keys together write per window. */
  globalBurst: number;
  /** The first window (ms); a key that flooded through it gets twice as long, and so on. */
  windowMs: number;
  /** The longest window (ms). */
  maxWindowMs: number;
  /** (kind, sender) pairs tracked at once. */
  maxKeys: number;
}

export const NOTE_LIMITS: NoteLimits = {
  burst: 5,
  globalBurst: 50,
  windowMs: 30_000, // journald's RateLimitIntervalSec default
  maxWindowMs: 3_600_000,
  maxKeys: 1024,
};

/** What the limiter needs from the world: the time, and one timer. */
export interface NoteClock {
  now(): number;
  /** Calls fn after ms; returns a cancel function. */
  schedule(fn: () => void, ms: number): () => void;
}

export const realClock: NoteClock = {
  now: () => Date.now(),
  schedule: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

/** One rate-limit window: of a (kind, sender), or the global one. */
interface Window {
  start: number;
  length: number;
  /** Notes allowed in this window (burst, or 0 while the key keeps flooding). */
  allowed: number;
  passed: number;
  suppressed: number;
  /** Consecutive windows that ended with notes suppressed. */
  streak: number;
}

interface KeyWindow extends Window {
  sender: string;
  /** The last note suppressed, quoted in the summary. */
  last: string;
}

export class NoteLimiter {
  private readonly keys = new Map<string, KeyWindow>();
  private readonly global: Window;
  /** Global suppressions by kind, and the senders behind them. */
  private readonly globalKinds = new Map<string, number>();
  private readonly globalSenders = new Set<string>();
  /** Earliest end of a window (nothing to expire before it). */
  private nextEnd = Infinity;
  private cancelTimer: (() => void) | null = null;

  constructor(private readonly emit: (msg: string) => void, private readonly limits: NoteLimits = NOTE_LIMITS,
    private readonly clock: NoteClock = realClock) {
    this.global = this.window(clock.now(), 0, limits.globalBurst);
    this.nextEnd = this.global.start + this.global.length;
  }

  /** A note about `sender` (e.g. `pid 12 uid 0`) of a kind (a short stable word): written or counted. */
  note(kind: string, sender: string, msg: string): void {
    const now = this.clock.now();
    if (now >= this.nextEnd) this.expire(now);
    const id = `${kind}\0${sender}`;
    let k = this.keys.get(id);
    if (k === undefined && this.keys.size < this.limits.maxKeys) {
      k = { ...this.window(now, 0, this.limits.burst), sender, last: '' };
      this.keys.set(id, k);
      this.nextEnd = Math.min(this.nextEnd, k.start + k.length);
    }
    if (k !== undefined && k.passed >= k.allowed) {
      k.suppressed++;
      k.last = msg;
      this.arm();
      return;
    }
    const g = this.global;
    if (k === undefined || g.passed >= g.allowed) {
      g.suppressed++;
      this.globalKinds.set(kind, (this.globalKinds.get(kind) ?? 0) + 1);
      if (this.globalSenders.size < this.limits.maxKeys) this.globalSenders.add(sender);
      this.arm();
      return;
    }
    k.passed++;
    g.passed++;
    this.emit(msg);
  }

  /** Writes the summaries still pending (at shutdown), forgets every window, stops the timer. */
  flush(): void {
    this.cancelTimer?.();
    this.cancelTimer = null;
    for (const k of this.keys.values()) if (k.suppressed > 0) this.summary(k);
    if (this.global.suppressed > 0) this.globalSummary();
    this.keys.clear();
    Object.assign(this.global, this.window(this.clock.now(), 0, this.limits.globalBurst));
    this.nextEnd = this.global.start + this.global.length;
  }

  private window(start: number, streak: number, burst: number): Window {
    const length = Math.min(this.limits.maxWindowMs, this.limits.windowMs * 2 ** streak);
    return { start, length, allowed: streak > 0 ? 0 : burst, passed: 0, suppressed: 0, streak };
  }

  /** Ends every window over by `now`: summaries for what was suppressed, then the next windows. */
  private expire(now: number): void {
    let next = Infinity;
    for (const [id, k] of this.keys) {
      if (now < k.start + k.length) {
        next = Math.min(next, k.start + k.length);
      } else if (k.suppressed === 0) {
        this.keys.delete(id);
      } else {
        this.summary(k);
        Object.assign(k, this.window(now, k.streak + 1, this.limits.burst));
        next = Math.min(next, k.start + k.length);
      }
    }
    const g = this.global;
    if (now >= g.start + g.length) {
      const flooded = g.suppressed > 0;
      if (flooded) this.globalSummary();
      Object.assign(g, this.window(now, flooded ? g.streak + 1 : 0, this.limits.globalBurst));
    }
    this.nextEnd = Math.min(next, g.start + g.length);
  }

  private summary(k: KeyWindow): void {
    this.emit(`suppressed ${k.suppressed} similar note${k.suppressed === 1 ? '' : 's'} from ${k.sender} in ${duration(k.length)} ` +
      `(memlogd writes at most ${this.limits.burst} per ${duration(this.limits.windowMs)}); the last: ${k.last}`);
  }

  private globalSummary(): void {
    const g = this.global;
    const n = this.globalSenders.size;
    const senders = n >= this.limits.maxKeys ? `${n} or more senders` : `${n} sender${n === 1 ? '' : 's'}`;
    const kinds = [...this.globalKinds].map(([kind, c]) => `${c} ${kind}`).join(', ');
    this.emit(`suppressed ${g.suppressed} note${g.suppressed === 1 ? '' : 's'} from ${senders} in ` +
      `${duration(g.length)} (memlogd writes at most ${this.limits.globalBurst} notes per ${duration(this.limits.windowMs)}): ${kinds}`);
    this.globalKinds.clear();
    this.globalSenders.clear();
  }

  /** Makes sure the summaries come when their window ends, even if no note follows. */
  private arm(): void {
    if (this.cancelTimer !== null) return;
    this.cancelTimer = this.clock.schedule(() => {
      this.cancelTimer = null;
      this.expire(this.clock.now());
      if (this.pending()) this.arm();
    }, Math.max(0, this.nextEnd - this.clock.now()));
  }

  private pending(): boolean {
    if (this.global.suppressed > 0) return true;
    for (const k of this.keys.values()) if (k.suppressed > 0) return true;
    return false;
  }
}

/** 30 s, 2 min, 1 h. */
function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}
