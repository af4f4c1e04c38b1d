// memlogd's dump in the bundle: the v2 answer as received (start, entries with seq, gaps, end),
// with secrets masked, and the text renderings made from it. Entries are masked per source, a
// long line's pieces joined first and a PEM block followed from entry to entry, so what a
// container printed is masked as it printed it, whatever other sources wrote in between.
// Pure: no I/O.

import { formatEntry, formatGap } from '../logread/format.js';
import { decodeRecord, encodeEntry, type V2Entry, type V2Record } from '../protocol/v2.js';
import { addCounts, countRanges, mask, type Counts, type Redactor } from './redact.js';

/** One line of the answer, decoded (null: not a record, kept as text). */
export interface DumpLine {
  line: string;
  record: V2Record | null;
}

export interface Dump {
  lines: DumpLine[];
  /** The `start` record arrived: memlogd answered. */
  started: boolean;
  /** The `end` record arrived: nothing is missing at the end. */
  complete: boolean;
  /** An `error` record: memlogd refused the request. */
  error: { code: string; message: string } | null;
}

/** Decodes the lines of a dump answer; a line that is not a record is kept (and masked as text). */
export function parseDump(lines: readonly string[]): Dump {
  const d: Dump = { lines: [], started: false, complete: false, error: null };
  for (const line of lines) {
    if (line === '') continue;
    let record: V2Record | null = null;
    try {
      record = decodeRecord(line);
    } catch {
      // kept as text below
    }
    if (record?.type === 'start') d.started = true;
    else if (record?.type === 'end') d.complete = true;
    else if (record?.type === 'error') d.error = { code: String(record.code), message: String(record.message) };
    d.lines.push({ line, record });
  }
  return d;
}

const isEntry = (r: V2Record | null): r is V2Entry => r !== null && r.type === undefined;

/**
 * Masks the secrets in every entry's message (in place: line and record) and returns what was
 * masked, by source. Each source is masked as one text, its lines in order (a long line's pieces
 * joined first), as the container wrote it; then every piece is cut back out at the same place.
 * Lines that are not records are masked as plain text, under ''.
 */
export function redactDump(d: Dump, redactor: Redactor): Map<string, Counts> {
  const bySource = new Map<string, Counts>();
  // per source: its lines, each the pieces (entries) it arrived as
  const sources = new Map<string, DumpLine[][]>();
  const open = new Map<string, DumpLine[]>();
  for (const l of d.lines) {
    const r = l.record;
    if (r === null) {
      const t = redactor.text(l.line);
      l.line = t.text;
      addCounts(bySource.get('') ?? bySource.set('', {}).get('')!, t.counts);
      continue;
    }
    if (!isEntry(r)) continue;
    let pieces = open.get(r.source);
    if (!pieces) {
      pieces = [];
      const lines = sources.get(r.source) ?? sources.set(r.source, []).get(r.source)!;
      lines.push(pieces);
    }
    pieces.push(l);
    if (r.partial) open.set(r.source, pieces);
    else open.delete(r.source);
  }
  for (const [source, lines] of sources) {
    const msgs = lines.map((pieces) => pieces.map((p) => (p.record as V2Entry).msg));
    const text = msgs.map((m) => m.join('')).join('\n');
    const ranges = redactor.find(text);
    if (ranges.length === 0) continue;
    bySource.set(source, countRanges(ranges));
    let at = 0;
    lines.forEach((pieces, i) => {
      pieces.forEach((p, j) => {
        const e = p.record as V2Entry;
        const len = msgs[i][j].length;
        const masked = mask(text, ranges, at, at + len);
        at += len;
        if (masked === e.msg) return;
        e.msg = masked;
        p.line = encodeEntry(e) ?? JSON.stringify(e);
      });
      at += 1; // the newline between lines
    });
  }
  return bySource;
}

/** The answer as NDJSON, one record per line, as memlogd sent it (secrets masked). */
export function dumpNdjson(d: Dump): string {
  return d.lines.map((l) => l.line + '\n').join('');
}

/**
 * The entries and gaps as logread prints them (plain text, no colors); only the sources
 * `include` accepts (gaps then left out: they are not about one source). nowMs stamps gaps.
 */
export function dumpText(d: Dump, nowMs: number, include?: (source: string) => boolean): string {
  let out = '';
  for (const { record: r } of d.lines) {
    if (isEntry(r)) {
      if (!include || include(r.source)) out += formatEntry(r, false) + '\n';
    } else if (r?.type === 'gap' && !include) out += formatGap(r, false, nowMs) + '\n';
  }
  return out;
}

/** What was masked in the given sources (all of them when include is undefined). */
export function countsOf(bySource: Map<string, Counts>, include?: (source: string) => boolean): Counts {
  const out: Counts = {};
  for (const [source, c] of bySource) if (!include || include(source)) addCounts(out, c);
  return out;
}
