// A client's position in memlogd's stream: the cursor (instance, last sequence number consumed)
// and the pieces of long lines still being joined. Shared by the clients that resume by cursor
// with a state file (logwrite, logforward). Pure: no I/O.
//
// Every record is turned into a list of steps. Each step emits at most one line (or gap) and moves
// the position by one consistent increment, so after any step what was emitted plus this position
// describe exactly what was consumed: a pending piece is consumed (and saved with the position in
// the state file), a line is consumed once it is emitted. Applying a prefix of a record's steps
// and planning the record again yields the remaining steps, which is how logwrite resumes after
// rolling back a batch that the disk refused.

import { SELF_SOURCE } from '../protocol/constants.js';
import { formatCursor } from '../protocol/cursor.js';
import type { GapRecord, StartRecord, V2Entry } from '../protocol/v2.js';

/** A whole line: one entry, or the pieces of a long line joined. */
export interface Line {
  source: string;
  /** memlogd's receive time of the first piece (RFC3339Nano). */
  time: string;
  msg: string;
  /** Sequence numbers of the first and last piece. */
  firstSeq: number;
  lastSeq: number;
  /** Pieces joined (1 for an ordinary line). */
  pieces: number;
  /** The line ends without its last piece (cut by a gap, a restart or the join limit). */
  cut?: boolean;
  /** UTF-8 bytes of the line left out beyond the join limit (overflow 'drop' only). */
  dropped?: number;
  /** Severity and facility of the first piece, where memlogd gave them. */
  severity?: number;
  facility?: number;
}

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
  /** UTF-8 bytes left out beyond the join limit so far (overflow 'drop'). */
  dropped?: number;
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
  /** A joined line is cut beyond this many bytes (string length: UTF-16 units). */
  maxLineBytes: number;
  /**
   * What happens beyond the limit: 'split' (default, logwrite) emits the line as it is, cut, and
   * the rest starts a new line; 'drop' (logforward, whose servers take messages of a bounded
   * size) keeps the line's beginning, counts the bytes of the rest in `dropped`, and emits the
   * line, cut, when its last piece arrives. Either way a pending line holds at most the limit.
   */
  overflow?: 'split' | 'drop';
  /**
   * The request filters entries (sources, stream, priority): sequence numbers then skip what did
   * not match, and a hole is not a loss (memlogd reports losses with gap records).
   */
  filtered?: boolean;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/** What is wrong with a position read back from a state file (instance, seq, pending), or null. */
export function positionError(v: Record<string, unknown>): string | null {
  if (v.instance !== null && (typeof v.instance !== 'string' || !/^[0-9a-f]{1,64}$/.test(v.instance))) return 'instance';
  if (!isInt(v.seq) || v.seq < -1) return 'seq';
  if (!Array.isArray(v.pending)) return 'pending';
  for (const p of v.pending as Pending[]) {
    if (typeof p !== 'object' || p === null || typeof p.source !== 'string' || typeof p.time !== 'string' || typeof p.msg !== 'string'
      || !isInt(p.firstSeq) || !isInt(p.lastSeq) || !isInt(p.pieces) || !isInt(p.bytes)
      || (p.dropped !== undefined && !isInt(p.dropped))) return 'pending entry';
  }
  return null;
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

  /** The same as a cursor string (`<instance>:<seq>`), or null. */
  get cursor(): string | null {
    const a = this.after;
    return a ? formatCursor(a.instance, a.seq) : null;
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
    else if (e.seq > this.seq + 1 && this.seq >= 0 && !this.opts.filtered) {
      const gap: GapRecord = { type: 'gap', from: this.seq + 1, to: e.seq - 1, count: e.seq - 1 - this.seq, reason: 'evicted' };
      steps.push(...this.cutAll(), this.gapStep(gap, 'memlogd skipped these without a gap record'));
      steps.push({ source: e.source, out: null, apply: () => { this.unreported += gap.count; } });
    }
    const src = e.source;
    // Plan against the pending state as the previous steps will leave it (they only cut pendings).
    const willCut = steps.length > 0;
    const p = willCut ? undefined : this.pending.get(src);
    const max = this.opts.maxLineBytes;
    if (this.opts.overflow === 'drop') return [...steps, ...this.pieceSteps(e, p, this.fit(e.msg, max - (p?.bytes ?? 0)))];
    if (p && p.bytes + e.msg.length > max) {
      steps.push(this.cutStep(p));
      return [...steps, ...this.pieceSteps(e, undefined, e.msg)];
    }
    return [...steps, ...this.pieceSteps(e, p, e.msg)];
  }

  /** msg cut to at most room UTF-16 units, never inside a surrogate pair. */
  private fit(msg: string, room: number): string {
    if (msg.length <= room) return msg;
    if (room <= 0) return '';
    const c = msg.charCodeAt(room - 1);
    return msg.slice(0, c >= 0xd800 && c <= 0xdbff ? room - 1 : room);
  }

  /** The steps of one piece; kept is the part of e.msg the line keeps (all of it unless dropping). */
  private pieceSteps(e: V2Entry, p: Pending | undefined, kept: string): Step[] {
    const src = e.source;
    const dropped = (p?.dropped ?? 0) + (kept === e.msg ? 0 : Buffer.byteLength(e.msg) - Buffer.byteLength(kept));
    if (e.partial) {
      return [{
        source: src, out: null,
        apply: () => {
          const cur = this.pending.get(src);
          if (cur) {
            cur.msg += kept;
            cur.bytes += kept.length;
            cur.lastSeq = e.seq;
            cur.pieces++;
          } else {
            this.pending.set(src, { source: src, time: e.time, firstSeq: e.seq, lastSeq: e.seq, pieces: 1, msg: kept, bytes: kept.length, ...levels(e) });
          }
          if (dropped > 0) this.pending.get(src)!.dropped = dropped;
          this.seq = e.seq;
        },
      }];
    }
    const line: Line = p
      ? { source: src, time: p.time, msg: p.msg + kept, firstSeq: p.firstSeq, lastSeq: e.seq, pieces: p.pieces + 1, ...levels(p) }
      : { source: src, time: e.time, msg: kept, firstSeq: e.seq, lastSeq: e.seq, pieces: 1, ...levels(e) };
    if (dropped > 0) {
      line.cut = true;
      line.dropped = dropped;
    }
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
    if (next - 1 > this.seq && this.seq >= 0 && !this.opts.filtered) {
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
    const line: Line = { source: p.source, time: p.time, msg: p.msg, firstSeq: p.firstSeq, lastSeq: p.lastSeq, pieces: p.pieces, cut: true, ...levels(p) };
    if (p.dropped) line.dropped = p.dropped;
    return { source: p.source, out: { kind: 'line', line }, apply: () => { this.pending.delete(p.source); } };
  }

  /** Every line being joined is written as it is (a gap may have taken its continuation). */
  private cutAll(): Step[] {
    return [...this.pending.values()].map((p) => this.cutStep(p));
  }
}

/** The severity and facility fields of an entry or pending line, where present. */
function levels(x: { severity?: number; facility?: number }): { severity?: number; facility?: number } {
  if (x.severity === undefined && x.facility === undefined) return {};
  const o: { severity?: number; facility?: number } = {};
  if (x.severity !== undefined) o.severity = x.severity;
  if (x.facility !== undefined) o.facility = x.facility;
  return o;
}
