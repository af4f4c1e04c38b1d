// How logwrite writes one line: the reference text form `<RFC3339 seconds> <source> <msg>`, or
// NDJSON with the sequence numbers (--format json). Pure: no I/O.

import { SELF_SOURCE } from '../protocol/constants.js';
import { gapTextFor } from '../protocol/gap.js';
import { formatTimeSeconds, parseTime } from '../protocol/time.js';
import { streamOf } from '../protocol/v1.js';
import type { GapRecord, V2Entry } from '../protocol/v2.js';
import type { Line } from '../client/tracker.js';

export type { Line } from '../client/tracker.js';

export type LineFormat = 'text' | 'json';

const SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z$/;

/** `2026-11-21T05:40:00.989Z` -> `2026-11-21T05:40:00Z` (times from memlogd are always UTC). */
const last = { time: '', seconds: '' };

export function timeSeconds(time: string): string {
  if (time === last.time) return last.seconds;
  let seconds: string;
  if (SECONDS.test(time)) seconds = time.slice(0, 19) + 'Z';
  else {
    const t = parseTime(time);
    seconds = t ? formatTimeSeconds(t[0]) : time;
  }
  last.time = time;
  last.seconds = seconds;
  return seconds;
}

/** Newlines would split one entry over two lines of the file: written as `\n` (never from memlogd). */
function oneLine(s: string): string {
  return s.includes('\n') ? s.replaceAll('\n', '\\n') : s;
}

/** One entry as a whole line (the common case, without building a Line). */
export function formatEntry(e: V2Entry, format: LineFormat): string {
  if (format === 'text') return `${timeSeconds(e.time)} ${oneLine(e.source)} ${oneLine(e.msg)}\n`;
  return formatLine({ source: e.source, time: e.time, msg: e.msg, firstSeq: e.seq, lastSeq: e.seq, pieces: 1, severity: e.severity, facility: e.facility }, format);
}

export function formatLine(l: Line, format: LineFormat): string {
  if (format === 'text') return `${timeSeconds(l.time)} ${oneLine(l.source)} ${oneLine(l.msg)}\n`;
  // the keys of memlogd's v2 entry, in its order (a whole line is written as memlogd sent it)
  const rec: Record<string, unknown> = { seq: l.firstSeq, time: l.time, source: l.source, stream: streamOf(l.source) };
  if (l.severity !== undefined) rec.severity = l.severity;
  if (l.facility !== undefined) rec.facility = l.facility;
  rec.msg = l.msg;
  if (l.pieces > 1) {
    rec.lastSeq = l.lastSeq;
    rec.pieces = l.pieces;
  }
  if (l.cut) rec.cut = true;
  return JSON.stringify(rec) + '\n';
}

/** What a gap record says, in words (for the text form; lib/protocol/gap.ts owns the wording). */
export function gapText(g: GapRecord, instance: string | null): string {
  return gapTextFor('logwrite', g, instance);
}

/** A gap as a line of the `memlogd` source's file, stamped with logwrite's clock. */
export function formatGap(g: GapRecord, instance: string | null, nowMs: number, format: LineFormat, note?: string): string {
  const sec = Math.floor(nowMs / 1000);
  if (format === 'text') return `${formatTimeSeconds(sec)} ${SELF_SOURCE} ${gapText(g, instance)}${note ? ` (${note})` : ''}\n`;
  const rec: Record<string, unknown> = {
    type: 'gap', time: new Date(nowMs).toISOString(), from: g.from, to: g.to, count: g.count, reason: g.reason,
  };
  if (g.previous) rec.previous = g.previous;
  if (g.sources) rec.sources = g.sources;
  if (g.reason === 'restarted') rec.instance = instance;
  if (note) rec.note = note;
  return JSON.stringify(rec) + '\n';
}
