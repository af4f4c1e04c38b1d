// logread's output formatting: plain text (the reference format), terminal colors, gap banners
// and the stats table. Pure: no I/O, so every piece is unit-testable.

import { SELF_SOURCE } from '../protocol/constants.js';
import { GAP_PREFIX, gapBanner, gapMessageV1 } from '../protocol/gap.js';
import { SEVERITIES } from '../protocol/severity.js';
import type { ReceivedStats } from '../protocol/stats.js';
import { formatTimeMs } from '../protocol/time.js';
import { escapeSource, formatText, type V1Entry } from '../protocol/v1.js';
import type { GapRecord } from '../protocol/v2.js';

const ESC = '\x1b[';
const RESET = ESC + '0m';
const DIM = ESC + '2m';
const GAP_STYLE = ESC + '1;31m'; // bold red

/**
 * The colors a source name can get (foreground SGR codes). Red is kept for gaps; the rest are
 * the normal and bright variants of green, yellow, blue, magenta and cyan, like logspout's.
 */
export const PALETTE: readonly string[] = ['32', '33', '34', '35', '36', '92', '93', '94', '95', '96'];

/** FNV-1a (32-bit) of the UTF-8 bytes of s: a stable hash, the same in every run and process. */
export function hashName(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The SGR color code of a source name: always the same for the same name. */
export function sourceColor(name: string): string {
  return PALETTE[hashName(name) % PALETTE.length];
}

/** `<time>;<source>;<msg>` with the time dimmed and the source in its color (terminal form). */
export function formatColoredText(e: V1Entry): string {
  return `${DIM}${e.time}${RESET};${ESC}${sourceColor(e.source)}m${escapeSource(e.source)}${RESET};${e.msg}`;
}

/** One entry as logread prints it: the reference text line, colored on a terminal. */
export function formatEntry(e: V1Entry, color: boolean): string {
  if (!color) return formatText(e);
  // A v1 server reports a gap as an ordinary memlogd entry: make it as visible as a v2 gap.
  if (e.source === SELF_SOURCE && e.msg.startsWith(GAP_PREFIX)) return `${GAP_STYLE}${formatText(e)}${RESET}`;
  return formatColoredText(e);
}

/** The current time in the wire form (RFC3339Nano, UTC). */
export function nowTime(ms = Date.now()): string {
  return formatTimeMs(ms);
}

/**
 * A gap as logread prints it. Plain: a normal text line `<now>;memlogd;<v1 gap message>`, so the
 * output reads like a v1 logread's; on a terminal: a bold red banner.
 */
export function formatGap(g: GapRecord, color: boolean, nowMs = Date.now()): string {
  if (color) return `${GAP_STYLE}${gapBanner(g)}${RESET}`;
  return formatText({ time: nowTime(nowMs), source: SELF_SOURCE, msg: gapMessageV1(g) });
}

// ---------------------------------------------------------------------------------------------
// stats

/** 1536 -> "1.5 KiB" */
export function humanBytes(n: unknown): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${v} B`;
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`;
}

/** Seconds as `45s`, `12m3s`, `5h2m`, `3d4h`. */
export function humanDuration(seconds: unknown): string {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

type Cell = string | number | boolean | null | undefined;

function cell(v: Cell): string {
  if (v === undefined || v === null || v === '') return '-';
  return String(v);
}

/**
 * Aligned columns, two spaces apart, no trailing spaces. align has one letter per column: `l`
 * left, `r` right (numbers); by default a column is right-aligned when all its values are numbers.
 */
export function table(header: string[], rows: Cell[][], align?: string): string {
  const text = rows.map((r) => header.map((_, i) => cell(r[i])));
  const numeric = header.map((_, i) => (align ? align[i] === 'r'
    : rows.length > 0 && rows.every((r) => typeof r[i] === 'number' || r[i] === undefined || r[i] === null)));
  const width = header.map((h, i) => Math.max(h.length, ...text.map((r) => r[i].length)));
  const line = (cells: string[]) => cells
    .map((c, i) => (numeric[i] ? c.padStart(width[i]) : i === cells.length - 1 ? c : c.padEnd(width[i])))
    .join('  ')
    .trimEnd();
  return [line(header), ...text.map(line)].join('\n');
}

/** A pid or uid; memlogd says -1 when it is not known. */
const id = (v: number | undefined): number | undefined => (v !== undefined && v >= 0 ? v : undefined);

/** The stats record as a readable report: the daemon and its store, then sources, then readers. */
export function formatStats(stats: ReceivedStats): string {
  const out: string[] = [];
  const store = stats.store ?? {};
  out.push(`memlogd ${cell(stats.instance)}, up ${humanDuration(stats.uptime)}`);
  const { lines, maxLines, oldest, next } = store;
  const pct = (a: number | undefined, b: number | undefined) => (a !== undefined && b ? ` (${Math.round((a / b) * 100)}%)` : '');
  out.push(`store:    ${cell(lines)} / ${cell(maxLines)} lines${pct(lines, maxLines)}, ` +
    `${humanBytes(store.bytes)} / ${humanBytes(store.maxBytes)}${pct(store.bytes, store.maxBytes)}`);
  out.push(`entries:  seq ${cell(oldest)}..${next !== undefined ? next - 1 : '-'}` +
    `${store.oldestTime ? `, oldest ${store.oldestTime}` : ''}, ${cell(store.evicted)} evicted so far`);

  const sources = stats.sources ?? [];
  out.push('');
  out.push(`sources (${sources.length}):`);
  if (sources.length > 0) {
    out.push(table(
      ['SOURCE', 'LINES', 'BYTES', 'TOTAL LINES', 'TOTAL BYTES', 'EVICTED', 'PARTIAL', 'PID', 'UID', 'FDS', 'LAST SEEN'],
      sources.map((s) => [
        s.name, s.lines, humanBytes(s.bytes), s.totalLines, humanBytes(s.totalBytes), s.evicted,
        s.partial, id(s.pid), id(s.uid), s.fds, s.lastSeen,
      ]),
      'lrrrrrrrrrl',
    ));
    // total lines by severity, one column per level that any source used
    const used = SEVERITIES.map((_, i) => i).filter((i) => sources.some((x) => (x.severities?.[i] ?? 0) > 0));
    if (used.length > 0) {
      out.push('');
      out.push('severities (total lines):');
      out.push(table(['SOURCE', ...used.map((i) => SEVERITIES[i].toUpperCase())],
        sources.map((x) => [x.name, ...used.map((i) => x.severities?.[i] ?? 0)]), 'l' + 'r'.repeat(used.length)));
    }
  }

  const readers = stats.readers ?? [];
  out.push('');
  out.push(`readers (${readers.length}):`);
  if (readers.length > 0) {
    out.push(table(
      ['ID', 'MODE', 'PID', 'UID', 'POSITION', 'LAG', 'GAPS', 'MISSED', 'SENT'],
      readers.map((r) => [r.id, r.mode, id(r.pid), id(r.uid), r.position, r.lag, r.gaps, r.missed, r.sent]),
      'rlrrrrrrr',
    ));
  }
  return out.join('\n');
}
