// logwrite's options, their defaults (the reference's where it has them) and the parsers of the
// flag values that are not plain numbers. Pure.

import { DEFAULT_QUERY_SOCKET } from '../protocol/constants.js';
import type { LineFormat } from './format.js';

export type FsyncPolicy = { mode: 'line' } | { mode: 'interval'; ms: number } | { mode: 'never' };

export interface LogwriteOptions {
  /** memlogd's query socket. */
  socket?: string;
  logDir?: string;
  /** Rotate before a file would grow beyond this many bytes (reference default 1 MiB). */
  maxLogSize?: number;
  /** Rotated files kept per source (reference default 10). */
  maxLogFiles?: number;
  /** Cap on the whole directory (bytes); 0: none. */
  maxTotalSize?: number;
  /** gzip rotated files in the background. */
  compress?: boolean;
  /** When data reaches the disk: every line, at an interval (default 1 s), or when the kernel likes. */
  fsync?: FsyncPolicy;
  format?: LineFormat;
  /** A long line is joined from memlogd's pieces up to this many bytes (default 4 MiB). */
  maxLineBytes?: number;
  /** Reconnect backoff bounds (ms). */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** One line per state change (default: stderr, prefixed `logwrite: `). */
  log?: (msg: string) => void;
}

export const LOGWRITE_DEFAULTS = {
  socket: DEFAULT_QUERY_SOCKET,
  logDir: '/var/log',
  maxLogSize: 1024 * 1024,
  maxLogFiles: 10,
  maxTotalSize: 0,
  compress: false,
  fsync: { mode: 'interval', ms: 1000 } as FsyncPolicy,
  format: 'text' as LineFormat,
  maxLineBytes: 4 * 1024 * 1024,
  backoffMinMs: 100,
  backoffMaxMs: 5000,
};

/** `line`, `never`, `interval` (1 s), or an interval: `250ms`, `2s`, `1000` (ms). */
export function parseFsync(v: string): FsyncPolicy {
  if (v === 'line' || v === 'always') return { mode: 'line' };
  if (v === 'never') return { mode: 'never' };
  if (v === 'interval') return { mode: 'interval', ms: 1000 };
  const m = /^(\d+)(ms|s)?$/.exec(v);
  if (!m || Number(m[1]) === 0) throw new Error(`--fsync must be line, never, interval or a duration like 500ms or 2s, not ${JSON.stringify(v)}`);
  return { mode: 'interval', ms: Number(m[1]) * (m[2] === 's' ? 1000 : 1) };
}

/** A byte count: `1048576`, `512k`, `10M`, `1GiB` (powers of 1024). */
export function parseSize(v: string): number {
  const m = /^(\d+)\s*(?:([kKmMgGtT])(?:i?B)?|B)?$/.exec(v.trim());
  if (!m) throw new Error(`not a size: ${JSON.stringify(v)} (a number of bytes, or with k, M, G)`);
  const mult = { k: 1, m: 2, g: 3, t: 4 }[(m[2] ?? '').toLowerCase() as 'k'] ?? 0;
  const n = Number(m[1]) * 1024 ** mult;
  if (!Number.isSafeInteger(n)) throw new Error(`size too large: ${v}`);
  return n;
}

/** Every option with its value: the defaults filled in, and where lines about state changes go. */
export type LogwriteSettings = typeof LOGWRITE_DEFAULTS & { log: (m: string) => void };

/** The options with the defaults filled in (an undefined option takes its default). */
export function settingsOf(opts: LogwriteOptions): LogwriteSettings {
  const defined = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
  return { ...LOGWRITE_DEFAULTS, log: (m: string) => process.stderr.write(`logwrite: ${m}\n`), ...defined } as LogwriteSettings;
}
