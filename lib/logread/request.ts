// logread's options and what they mean on the wire: which protocol, which v2 request, how
// relative times are computed. Pure: no sockets, no files.

import type { Writable } from 'node:stream';
import { parseCursor } from '../protocol/cursor.js';
import { UsageError } from '../protocol/errors.js';
import { globToRegExp } from '../protocol/glob.js';
import { parseSeverityRange } from '../protocol/severity.js';
import { formatTime, formatTimeMs, parseTime } from '../protocol/time.js';
import type { QueryMode, QueryRequest } from '../protocol/v2.js';

export interface LogreadOptions {
  socket: string;
  /** -f: new entries only */
  follow?: boolean;
  /** -F: everything held, then new entries */
  dumpFollow?: boolean;
  // --- v2 options: any of them makes logread send a v2 request ---
  /** -n: only the last N matching entries held (with -f: the last N, then follow) */
  tail?: number;
  /** RFC3339, or a duration back from now (`30s`, `10m`, `2h`, `1d`, `1h30m`) */
  since?: string;
  until?: string;
  /** source globs (any of them) */
  sources?: string[];
  /** source globs to drop */
  exclude?: string[];
  stream?: string;
  /** -p: severities, as journalctl's -p: `err` (err and more severe) or `warning..err`, names or 0-7 */
  priority?: string;
  /** regular expression (JavaScript syntax) the message must match */
  grep?: string;
  /** NDJSON output: the v2 records as received (entries and gaps; the stats record) */
  json?: boolean;
  /** the daemon's statistics instead of entries */
  stats?: boolean;
  /** resume strictly after this cursor (`<instance>:<seq>`) */
  after?: string;
  /** read the cursor to resume after from this file; keep it up to date */
  cursorFile?: string;
  /** wait for memlogd, and reconnect (resuming from the cursor) when the connection drops */
  retry?: boolean;
  // --- output and plumbing ---
  /** true: always color; false: never; undefined: on a terminal unless NO_COLOR / TERM=dumb */
  color?: boolean;
  /** Stops logread (SIGINT/SIGTERM): it saves the cursor and resolves. */
  signal?: AbortSignal;
  /** One-line notices (retrying, reconnected). Default: stderr, prefixed `logread: `. */
  notice?: (msg: string) => void;
  /** Clock in ms (relative times, gap lines); default Date.now. */
  now?: () => number;
  /** Least time between two cursor file writes while running (ms, default 1000). */
  cursorWriteInterval?: number;
  /** Reconnect backoff: first delay and cap (ms, default 100 and 5000), plus jitter. */
  retryMinDelay?: number;
  retryMaxDelay?: number;
}

/** Without --retry, how long an explicit v2 request may go unanswered (a v1-only memlogd never answers it). */
export const V2_START_TIMEOUT_MS = 15_000;


/** What makes logread speak v2. */
const V2_OPTIONS = ['tail', 'since', 'until', 'sources', 'exclude', 'stream', 'priority', 'grep', 'json', 'stats', 'after', 'cursorFile', 'retry'] as const;

/** Does this invocation need protocol v2? (Otherwise logread sends one v1 mode byte.) */
export function needsV2(o: LogreadOptions): boolean {
  return V2_OPTIONS.some((k) => {
    const v = o[k];
    return Array.isArray(v) ? v.length > 0 : v !== undefined && v !== false;
  });
}

// ---------------------------------------------------------------------------------------------
// pure helpers

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `30s`, `10m`, `2h`, `1d`, `1h30m`, `1.5h`, `250ms` as milliseconds; null when it is not one. */
export function parseDuration(text: string): number | null {
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d|w))+$/.test(text)) return null;
  let ms = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)) ms += Number(m[1]) * UNIT_MS[m[2]];
  return Number.isFinite(ms) ? ms : null;
}

/**
 * A --since/--until value as the RFC3339 time the request carries: an RFC3339 time (normalized
 * to UTC), `now`, or a duration meaning now minus that (`30s`, `-30s`, `10m`, `2h`, `1d`).
 * Null when it is none of these.
 */
export function parseTimeArg(text: string, nowMs: number): string | null {
  const t = parseTime(text);
  if (t) return formatTime(t[0], t[1]);
  if (text === 'now') return formatTimeMs(nowMs);
  const d = parseDuration(text.startsWith('-') ? text.slice(1) : text);
  return d === null ? null : formatTimeMs(nowMs - d);
}

/** The v2 mode the flags ask for. */
export function modeOf(o: LogreadOptions): QueryMode {
  if (o.stats) return 'stats';
  if (o.dumpFollow) return 'dump+follow';
  // `-f -n 10` is "the last 10, then follow" (as with tail, journalctl, docker logs): memlogd
  // starts a follower with `tail` that many matching entries back
  if (o.follow) return 'follow';
  return 'dump';
}

/**
 * The v2 request the options stand for (keys in the documented order), resuming after `after`
 * when given. Validates every value; throws a usage error (ERR_USAGE) with one clear line.
 */
export function buildRequest(o: LogreadOptions, nowMs: number, after = o.after): QueryRequest {
  if (o.stats) {
    const extra = (['follow', 'dumpFollow', 'tail', 'since', 'until', 'sources', 'exclude', 'stream', 'priority', 'grep', 'after', 'cursorFile'] as const)
      .filter((k) => (Array.isArray(o[k]) ? (o[k] as string[]).length > 0 : o[k] !== undefined && o[k] !== false));
    if (extra.length) throw new UsageError(`--stats cannot be combined with ${extra.map(flagName).join(', ')}`);
    return { mode: 'stats' };
  }
  const r: QueryRequest = { mode: modeOf(o) };
  if (after !== undefined) {
    if (parseCursor(after) === null) throw new UsageError(`--after: ${JSON.stringify(after)} is not a cursor (<instance>:<seq>, e.g. b5f1c2d3e4a5b6c7:1041)`);
    r.after = after;
  }
  for (const k of ['sources', 'exclude'] as const) {
    const globs = o[k];
    if (!globs?.length) continue;
    for (const g of globs) {
      try {
        globToRegExp(g);
      } catch (err) {
        throw new UsageError(`${flagName(k)}: ${(err as Error).message}`);
      }
    }
    r[k] = [...globs];
  }
  if (o.stream !== undefined) {
    if (o.stream !== 'stdout' && o.stream !== 'stderr') throw new UsageError(`--stream must be stdout or stderr, not ${JSON.stringify(o.stream)}`);
    r.stream = o.stream;
  }
  if (o.priority !== undefined) {
    const p = parseSeverityRange(o.priority);
    if (p === null) throw new UsageError(`--priority: ${JSON.stringify(o.priority)} is not a severity (emerg alert crit err warning notice info debug, or 0-7) or a range like warning..err`);
    r.priority = p[0] === 0 ? p[1] : p;
  }
  for (const k of ['since', 'until'] as const) {
    const v = o[k];
    if (v === undefined) continue;
    const t = parseTimeArg(v, nowMs);
    if (t === null) throw new UsageError(`--${k}: ${JSON.stringify(v)} is neither an RFC3339 time (2026-11-21T05:00:00Z) nor a duration like 30s, 10m, 2h, 1d`);
    r[k] = t;
  }
  if (o.tail !== undefined) {
    if (!Number.isSafeInteger(o.tail) || o.tail < 0) throw new UsageError(`--tail must be an integer >= 0, not ${o.tail}`);
    r.tail = o.tail;
  }
  if (o.grep !== undefined) {
    try {
      new RegExp(o.grep, 'u');
    } catch (err) {
      throw new UsageError(`--grep: ${(err as Error).message}`);
    }
    r.grep = o.grep;
  }
  return r;
}

function flagName(k: string): string {
  const names: Record<string, string> = {
    follow: '-f', dumpFollow: '-F', tail: '--tail', sources: '--source', cursorFile: '--cursor-file',
  };
  return names[k] ?? `--${k}`;
}

/** Should output be colored? Forced either way by `color`, else only on a terminal. */
export function useColor(color: boolean | undefined, out: Writable, env: NodeJS.ProcessEnv = process.env): boolean {
  if (color !== undefined) return color;
  if (env.NO_COLOR || env.TERM === 'dumb') return false;
  return (out as Writable & { isTTY?: boolean }).isTTY === true;
}
