// logwrite's position in memlogd's stream: the cursor (instance, last sequence number consumed)
// and the pieces of long lines still being joined. Pure: no I/O.
//
// Every record is turned into a list of steps. Each step writes at most one line and moves the
// position by one consistent increment, so after any step the files plus this position describe
// exactly what was consumed: a pending piece is consumed (and saved with the position in the
// state file), a line is consumed once it is in its file. Applying a prefix of a record's steps
// and planning the record again yields the remaining steps, which is how logwrite resumes after
// rolling back a batch that the disk refused.

import { SELF_SOURCE } from '../protocol/constants.js';
import { formatCursor } from '../protocol/cursor.js';
import type { GapRecord, StartRecord, V2Entry } from '../protocol/v2.js';
import type { Line } from './format.js';

/** Pieces of one long line received so far. */
export interface Pending {
  source: string;
  time: string;
  firstSeq: number;
  lastSeq: number;
  pieces: number;
  /** The joined text so far. */
  msg: string;
  /** Its size in UTF-8 bytes (approximate for the limit: string length counts are enough). */
  bytes: number;
  /** The first piece's severity and facility. */
  severity?: number;
  facility?: number;
}

/** What the state file keeps of the position. */
export interface Position {
  instance: string | null;
  /** Last sequence number consumed (-1: nothing yet from this instance). */
  seq: number;
  pending: Pending[];
}

/** One thing to write: a line of a source, or a gap (written to the `memlogd` source's file). */
export type Out =
  | { kind: 'line'; line: Line }
  | { kind: 'gap'; gap: GapRecord; note?: string; instance?: string | null };

export interface Step {
  /** Source whose file gets the output (the gap's file is the `memlogd` source's). */
  source: string;
  out: Out | null;
  apply: () => void;
}

export interface TrackerOptions {
  /** A joined line is cut (written as it is, the rest starts a new line) beyond this many bytes. */
  maxLineBytes: number;
}

export class Tracker {
  instance: string | null;
  seq: number;
  readonly pending = new Map<string, Pending>();
  /**
   * Another instance answered our cursor (memlogd restarted) and the restarted gap is not
   * written yet: until it is, the position stays on the old instance's cursor.
   */
  private restart: { previous: string; instance: string } | null = null;
  /** Entries the server sent twice or out of order (a server bug; counted, never written). */
  duplicates = 0;
  /** Holes in the sequence without a gap record (a server bug; written as gap lines). */
  unreported = 0;

  constructor(private readonly opts: TrackerOptions, saved?: Position | null) {
    this.instance = saved?.instance ?? null;
    this.seq = saved?.seq ?? -1;
    for (const p of saved?.pending ?? []) this.pending.set(p.source, { ...p });
  }

  /** The cursor to resume after (`<instance>:<seq>`), or null to read everything. */
  get after(): { instance: string; seq: number } | null {
    return this.instance !== null && this.seq >= 0 ? { instance: this.instance, seq: this.seq } : null;
  }

  position(): Position {
    return { instance: this.instance, seq: this.seq, pending: [...this.pending.values()].map((p) => ({ ...p })) };
  }

  /** Everything needed to roll back to this point of a connection. */
  snapshot(): Position & { restart: { previous: string; instance: string } | null } {
    return { ...this.position(), restart: this.restart && { ...this.restart } };
  }

  restore(p: Position & { restart?: { previous: string; instance: string } | null }): void {
    this.instance = p.instance;
    this.seq = p.seq;
    this.pending.clear();
    for (const x of p.pending) this.pending.set(x.source, { ...x });
    this.restart = p.restart ?? null;
  }

  /** A new connection: nothing of the previous one's answer is in flight any more. */
  reconnect(): void {
    this.restart = null;
  }

  /** The start record of a connection. Returns steps (a gap for what was lost before we came). */
  start(rec: StartRecord, requestedAfter: boolean): Step[] {
    if (this.instance === rec.instance) return [];
    if (this.instance !== null && requestedAfter) {
      // memlogd restarted: the server sends a restarted gap next; remember in case it does not
      const restart = { previous: formatCursor(this.instance, this.seq), instance: rec.instance };
      return [{ source: SELF_SOURCE, out: null, apply: () => { this.restart = restart; } }];
    }
    // First contact (or nothing consumed from the previous instance): take everything it holds.
    const steps: Step[] = [{ source: SELF_SOURCE, out: null, apply: () => { this.instance = rec.instance; this.seq = -1; } }];
    if (rec.oldest > 0 && !requestedAfter) {
      const gap: GapRecord = { type: 'gap', from: 0, to: rec.oldest - 1, count: rec.oldest, reason: 'evicted' };
      if (rec.evicted) gap.sources = rec.evicted; // whose they were, when memlogd says
      steps.push(this.gapStep(gap));
    }
    return steps;
  }

  /**
   * The common case, without steps: the next entry in sequence, a whole line, nothing being
   * joined for its source. The caller writes it as a line of its own, then calls consumed().
   */
  simple(e: V2Entry): boolean {
    return e.seq === this.seq + 1 && this.restart === null && !e.partial && (this.pending.size === 0 || !this.pending.has(e.source));
  }

  /** No restart is being resolved: the next entry in sequence can be written as it comes. */
  get plain(): boolean {
    return this.restart === null;
  }

  consumed(e: V2Entry): void {
    this.seq = e.seq;
  }

  entry(e: V2Entry): Step[] {
    const steps: Step[] = [];
    if (this.restart !== null) steps.push(...this.restartSteps(null));
    else if (e.seq <= this.seq) {
      return [{ source: e.source, out: null, apply: () => { this.duplicates++; } }];
    }
    else if (e.seq > this.seq + 1 && this.seq >= 0) {
      const gap: GapRecord = { type: 'gap', from: this.seq + 1, to: e.seq - 1, count: e.seq - 1 - this.seq, reason: 'evicted' };
      steps.push(...this.cutAll(), this.gapStep(gap, 'memlogd skipped these without a gap record'));
      steps.push({ source: e.source, out: null, apply: () => { this.unreported += gap.count; } });
    }
    const src = e.source;
    const bytes = e.msg.length;
    // Plan against the pending state as the previous steps will leave it (they only cut pendings).
    const willCut = steps.length > 0;
    const p = willCut ? undefined : this.pending.get(src);
    if (p && p.bytes + bytes > this.opts.maxLineBytes) {
      steps.push(this.cutStep(p));
      return [...steps, ...this.pieceSteps(e, undefined)];
    }
    return [...steps, ...this.pieceSteps(e, p)];
  }

  private pieceSteps(e: V2Entry, p: Pending | undefined): Step[] {
    const src = e.source;
    if (e.partial) {
      return [{
        source: src, out: null,
        apply: () => {
          const cur = this.pending.get(src);
          if (cur) {
            cur.msg += e.msg;
            cur.bytes += e.msg.length;
            cur.lastSeq = e.seq;
            cur.pieces++;
          } else {
            this.pending.set(src, {
              source: src, time: e.time, firstSeq: e.seq, lastSeq: e.seq, pieces: 1, msg: e.msg, bytes: e.msg.length, severity: e.severity, facility: e.facility,
            });
          }
          this.seq = e.seq;
        },
      }];
    }
    const line: Line = p
      ? { source: src, time: p.time, msg: p.msg + e.msg, firstSeq: p.firstSeq, lastSeq: e.seq, pieces: p.pieces + 1, severity: p.severity, facility: p.facility }
      : { source: src, time: e.time, msg: e.msg, firstSeq: e.seq, lastSeq: e.seq, pieces: 1, severity: e.severity, facility: e.facility };
    return [{
      source: src, out: { kind: 'line', line },
      apply: () => {
        this.pending.delete(src);
        this.seq = e.seq;
      },
    }];
  }

  gap(g: GapRecord): Step[] {
    if (g.reason === 'restarted') return this.restartSteps(g);
    const steps: Step[] = [];
    if (this.restart !== null) steps.push(...this.restartSteps(null));
    else if (g.to <= this.seq) return [];
    steps.push(...this.cutAll());
    if (g.count > 0) steps.push(this.gapStep(g));
    else steps.push({ source: SELF_SOURCE, out: null, apply: () => { this.seq = Math.max(this.seq, g.to); } });
    return steps;
  }

  /** The end of a dump: everything before next was sent or reported. */
  end(next: number): Step[] {
    if (next - 1 > this.seq && this.seq >= 0) {
      const gap: GapRecord = { type: 'gap', from: this.seq + 1, to: next - 1, count: next - 1 - this.seq, reason: 'evicted' };
      return [...this.cutAll(), this.gapStep(gap, 'memlogd skipped these without a gap record')];
    }
    return [];
  }

  /** memlogd restarted: what we were joining is cut, the gap is written, the cursor starts over. */
  private restartSteps(g: GapRecord | null): Step[] {
    const r = this.restart;
    const previous = g?.previous ?? r?.previous ?? (this.instance !== null ? formatCursor(this.instance, this.seq) : undefined);
    const gap: GapRecord = g ?? { type: 'gap', from: 0, to: 0, count: 0, reason: 'restarted', previous };
    const steps = this.cutAll();
    const note = g === null ? 'memlogd sent no restarted gap record' : undefined;
    const instance = r?.instance ?? this.instance;
    steps.push({
      source: SELF_SOURCE, out: { kind: 'gap', gap: { ...gap, previous }, note, instance },
      apply: () => {
        this.restart = null;
        this.instance = instance;
        this.seq = gap.count > 0 ? gap.to : gap.from - 1;
      },
    });
    return steps;
  }

  private gapStep(g: GapRecord, note?: string): Step {
    return {
      source: SELF_SOURCE, out: { kind: 'gap', gap: g, note },
      apply: () => { this.seq = Math.max(this.seq, g.to); },
    };
  }

  private cutStep(p: Pending): Step {
    const line: Line = {
      source: p.source, time: p.time, msg: p.msg, firstSeq: p.firstSeq, lastSeq: p.lastSeq, pieces: p.pieces, cut: true, severity: p.severity, facility: p.facility,
    };
    return { source: p.source, out: { kind: 'line', line }, apply: () => { this.pending.delete(p.source); } };
  }

  /** Every line being joined is written as it is (a gap may have taken its continuation). */
  private cutAll(): Step[] {
    return [...this.pending.values()].map((p) => this.cutStep(p));
  }
}
