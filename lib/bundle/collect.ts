// logbundle: everything a maintainer needs from a VM that misbehaved, in one archive, while logs
// keep flowing. Tasks run one after the other, each within its own time limit; what each yields
// is masked (one Redactor for the whole bundle), fitted into --max-size if it is a log file,
// checksummed and archived at once. manifest.json, written last, lists every item, including
// those skipped or failed and why. Nothing but the archive itself failing stops the bundle.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { humanBytes } from '../logread/format.js';
import { formatTimeMs } from '../protocol/time.js';
import { Archive } from './archive.js';
import { Budget, maskBytes } from './content.js';
import { kmsgTask } from './kernel.js';
import { LogDir } from './logdir.js';
import { defaultStem, manifestItem, manifestJson, MANIFEST_NAME, stemOf, summarize, type Manifest, type ManifestItem } from './manifest.js';
import { dumpTask, statsTask } from './memlogd.js';
import { Redactor } from './redact.js';
import { systemTasks } from './system.js';
import { errorText, runTask, Skip, type Produced, type Task } from './task.js';

export interface BundleOptions {
  /** The archive's path, an existing directory to put it in, `-` for stdout, or undefined: the default name here. */
  output?: string;
  socket: string;
  logDir: string;
  maxSize: number;
  /** --no-redact: the default rules off. */
  noRedact?: boolean;
  /** --redact REGEX, in order. */
  patterns?: string[];
  /** Every item's time limit (ms), instead of each one's own. */
  timeoutMs?: number;
  kmsgDevice: string;
  /** Where `-o -` writes. */
  stdout?: Writable;
  /** One line per item (the command shows them on a terminal). */
  progress?: (line: string) => void;
  /** Stops the run; the temporary file is removed. */
  signal?: AbortSignal;
  hostname?: string;
  now?: () => number;
}

export interface BundleResult {
  /** The archive's path, null when written to stdout. */
  file: string | null;
  sha256: string;
  bytes: number;
  manifest: Manifest;
}

/** Where the archive goes: [file, top directory name]. */
function outputOf(o: BundleOptions, at: Date): [string | null, string] {
  const stem = defaultStem(o.hostname ?? os.hostname(), at);
  if (o.output === '-') return [null, stem];
  let file = o.output ?? `${stem}.tar.gz`;
  if (fs.statSync(file, { throwIfNoEntry: false })?.isDirectory()) file = path.join(file, `${stem}.tar.gz`);
  file = path.resolve(file);
  return [file, stemOf(path.basename(file))];
}

export async function logbundle(o: BundleOptions): Promise<BundleResult> {
  const now = o.now ?? Date.now;
  const started = now();
  const redactor = Redactor.of(o.noRedact === true, o.patterns ?? []);
  const [file, top] = outputOf(o, new Date(started));
  const archive = Archive.create(top, file, o.stdout ?? process.stdout);
  const items: ManifestItem[] = [];
  const budget = new Budget(o.maxSize);
  const say = o.progress ?? (() => {});

  const record = (item: ManifestItem) => {
    items.push(manifestItem(item));
    const what = item.status === 'ok'
      ? `${humanBytes(item.size)}${item.truncated ? ', truncated' : ''}${Object.keys(item.redactions).length ? ', secrets masked' : ''}`
      : `${item.status}: ${item.reason}`;
    say(`${item.path}: ${what}`);
  };

  type Base = Pick<ManifestItem, 'path' | 'source' | 'durationMs' | 'exitCode' | 'signal'>;
  /** An item that is not in the archive, and why. */
  const notArchived = (base: Base, status: 'skipped' | 'failed', reason: string, notes: string[] = []) =>
    record({ ...base, status, truncated: false, redactions: {}, reason, ...(notes.length ? { notes } : {}) });

  /** Masks, fits, checksums and archives one produced item. */
  const store = async (p: Produced, durationMs: number) => {
    const base: Base = { path: p.path, source: p.source, durationMs, ...(p.exitCode !== undefined ? { exitCode: p.exitCode, signal: p.signal ?? null } : {}) };
    const notes = [...(p.notes ?? [])];
    if (p.skip !== undefined) return notArchived(base, 'skipped', p.skip);
    let data = p.data;
    let plain: Buffer | undefined;
    let redactions = p.redacted ?? {};
    if (!p.redacted && redactor.active) {
      try {
        const m = maskBytes(data, p.gzip === true, redactor);
        ({ data, plain, counts: redactions } = m);
        notes.push(...m.notes);
      } catch (err) {
        // what cannot be read cannot be masked: it stays out of the bundle
        if (err instanceof Skip) return notArchived(base, 'skipped', err.message, notes);
        return notArchived(base, 'failed', `cannot be read to mask secrets, so not archived: ${errorText(err)}`, notes);
      }
    }
    let truncated = p.truncated === true;
    if (p.budget) {
      const fit = budget.fit(data, p.gzip === true, plain);
      if (!fit) return notArchived(base, 'skipped', `over --max-size: ${humanBytes(data.length)} did not fit`, notes);
      if (fit.truncated) notes.push(`cut to its newest ${humanBytes(fit.data.length)} to stay within --max-size`);
      truncated ||= fit.truncated;
      data = fit.data;
    }
    await archive.add(p.path, data, new Date(now()));
    record({
      ...base, status: 'ok', size: data.length, sha256: createHash('sha256').update(data).digest('hex'),
      ...(p.sourceSize !== undefined && (truncated || p.sourceSize !== p.data.length) ? { sourceSize: p.sourceSize } : {}),
      truncated, redactions, ...(notes.length ? { notes } : {}),
    });
  };

  const runAll = async (tasks: Task[]) => {
    for (const t of tasks) {
      if (o.signal?.aborted) throw new Error('interrupted');
      const r = await runTask(t, o.timeoutMs ?? t.limitMs, o.signal);
      if (o.signal?.aborted) throw new Error('interrupted');
      if (r.error) {
        const status = r.error.skipped ? 'skipped' : 'failed';
        notArchived({ path: t.path, source: t.source, durationMs: r.durationMs }, status, r.error.reason);
        for (const p of t.also ?? []) notArchived({ path: p, source: { type: 'derived', from: t.path }, durationMs: 0 }, status, `made from ${t.path}, which has none`);
      }
      for (const p of r.produced) await store(p, r.durationMs);
    }
  };

  try {
    await runAll([dumpTask(o.socket, redactor, now), statsTask(o.socket), kmsgTask(o.kmsgDevice), ...systemTasks()]);
    // the log directory last: the largest part, and the only one cut to --max-size
    const logs = new LogDir(o.logDir, new Set([archive.temp, file].filter((x): x is string => x !== null)), budget);
    try {
      await runAll([logs.listing()]);
      await runAll(logs.fileTasks());
    } finally {
      await logs.close();
    }

    const finished = now();
    const manifest: Manifest = {
      format: 1, tool: 'logbundle', host: o.hostname ?? os.hostname(), createdAt: formatTimeMs(started), finishedAt: formatTimeMs(finished),
      durationMs: Math.round(finished - started),
      settings: {
        socket: o.socket, logDir: o.logDir, maxSize: o.maxSize, redaction: o.noRedact ? 'off' : 'default',
        patterns: o.patterns?.length ?? 0, timeoutMs: o.timeoutMs ?? null,
      },
      summary: summarize(items),
      items,
    };
    await archive.add(MANIFEST_NAME, Buffer.from(manifestJson(manifest)), new Date(finished));
    const { sha256, bytes } = await archive.finish();
    return { file, sha256, bytes, manifest };
  } catch (err) {
    archive.abort();
    throw err;
  }
}
