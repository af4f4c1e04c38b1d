// manifest.json: one record per item (as sos keeps one manifest of every command it ran): where
// it is in the archive, where it came from, its size and sha256, the command's exit status, how
// long it took, whether it was cut, what was masked, and for an item that is not in the archive,
// why. Also the sidecar checksum line and the default archive name. Pure: no I/O.

import { addCounts, type Counts } from './redact.js';

/** Where an item came from. */
export type ItemSource =
  | { type: 'memlogd'; socket: string; request: string }
  | { type: 'file'; path: string }
  | { type: 'command'; command: string }
  | { type: 'device'; path: string }
  | { type: 'proc'; path: string }
  /** Made from another item (the text rendering of the dump). */
  | { type: 'derived'; from: string };

export type ItemStatus = 'ok' | 'skipped' | 'failed';

export interface ManifestItem {
  /** Path in the archive, below its top directory. */
  path: string;
  source: ItemSource;
  status: ItemStatus;
  /** Bytes in the archive and their sha256 (hex), for items that are in it. */
  size?: number;
  sha256?: string;
  /** Bytes of the file it was read from, when it was cut. */
  sourceSize?: number;
  exitCode?: number | null;
  signal?: string | null;
  durationMs: number;
  truncated: boolean;
  /** Secrets masked, by rule. */
  redactions: Counts;
  /** Why a skipped or failed item is not in the archive. */
  reason?: string;
  /** What happened on the way (a file rotated while read, a cut, a time limit). */
  notes?: string[];
}

/** An item with its keys in the documented order (what a reader of manifest.json sees first). */
export function manifestItem(i: ManifestItem): ManifestItem {
  const keys: Array<keyof ManifestItem> = [
    'path', 'source', 'status', 'size', 'sha256', 'sourceSize', 'exitCode', 'signal', 'durationMs', 'truncated', 'redactions', 'reason', 'notes',
  ];
  const out: Record<string, unknown> = {};
  for (const k of keys) if (i[k] !== undefined) out[k] = i[k];
  return out as unknown as ManifestItem;
}

export interface BundleSettings {
  socket: string;
  logDir: string;
  maxSize: number;
  /** `default` (the usual secret shapes) or `off` (--no-redact); plus how many --redact patterns. */
  redaction: 'default' | 'off';
  patterns: number;
  /** The time limit given with --timeout, or null: each item's own. */
  timeoutMs: number | null;
}

export interface Summary {
  items: number;
  ok: number;
  skipped: number;
  failed: number;
  truncated: number;
  bytes: number;
  redactions: Counts;
}

export interface Manifest {
  format: 1;
  tool: 'logbundle';
  host: string;
  createdAt: string;
  finishedAt: string;
  durationMs: number;
  settings: BundleSettings;
  summary: Summary;
  items: ManifestItem[];
}

/** The file name of the manifest, at the top of the archive. */
export const MANIFEST_NAME = 'manifest.json';

export function summarize(items: readonly ManifestItem[]): Summary {
  const s: Summary = { items: items.length, ok: 0, skipped: 0, failed: 0, truncated: 0, bytes: 0, redactions: {} };
  for (const i of items) {
    s[i.status]++;
    if (i.truncated) s.truncated++;
    s.bytes += i.size ?? 0;
    addCounts(s.redactions, i.redactions);
  }
  return s;
}

/** The manifest as written into the archive (two-space indented, one item per few lines). */
export function manifestJson(m: Manifest): string {
  return JSON.stringify(m, null, 2) + '\n';
}

/** The `<archive>.sha256` line, as sha256sum writes it (`sha256sum -c` checks it). */
export function sidecarLine(sha256: string, name: string): string {
  return `${sha256}  ${name}\n`;
}

/** A command as a shell would take it: arguments with anything unusual single-quoted. */
export function commandLine(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(' ');
}

/** `logbundle-<hostname>-<UTC time>` (basic ISO 8601: no colons in a file name). */
export function defaultStem(hostname: string, at: Date): string {
  const host = hostname.replace(/[^\w.-]/g, '_') || 'localhost';
  const time = at.toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
  return `logbundle-${host}-${time}`;
}

/** The archive's top directory from its file name (`x.tar.gz`, `x.tgz` -> `x`). */
export function stemOf(fileName: string): string {
  return fileName.replace(/\.(tar\.gz|tgz)$/, '') || 'logbundle';
}
