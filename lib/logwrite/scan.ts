// What is in a log directory at start, repaired: temporary files removed, a compression that
// finished but did not remove its original completed, holes in a rotation chain closed (a crash
// between two renames), files beyond -max-log-files set aside as strays for the cap. Also the
// same repair for one source after a rotation failed half way.

import fs from 'node:fs';
import path from 'node:path';
import { Base, type Stray } from './base.js';
import { currentName, isTempName, parseFileName, rotatedName } from './names.js';

export interface ScanResult {
  strays: Stray[];
  /** Bytes of every file of ours found. */
  total: number;
  /** Names were changed: the directory needs an fsync. */
  renamed: boolean;
  /** Rotated files not compressed yet, oldest index last. */
  uncompressed: Array<{ base: Base; ino: number }>;
}

/** Reads dir, repairing as it goes; base(name) gives the Base of each source found. */
export function scanDir(dir: string, maxFiles: number, base: (name: string) => Base): ScanResult {
  const p = (name: string) => path.join(dir, name);
  const res: ScanResult = { strays: [], total: 0, renamed: false, uncompressed: [] };
  const rotated = new Map<string, Map<number, { plain?: fs.Stats; gz?: fs.Stats }>>();
  for (const name of fs.readdirSync(dir)) {
    if (isTempName(name)) {
      try {
        fs.rmSync(p(name), { force: true });
      } catch { /* a read-only directory: harmless, they are not ours to count */ }
      continue;
    }
    const parsed = parseFileName(name);
    if (!parsed) continue;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p(name));
    } catch {
      continue;
    }
    if (!st.isFile()) continue; // a symlink or anything else in our name space is left alone
    if (parsed.index < 0) {
      const b = base(parsed.base);
      b.ino = st.ino;
      b.size = st.size;
      b.mtimeMs = st.mtimeMs;
      res.total += st.size;
      continue;
    }
    let m = rotated.get(parsed.base);
    if (!m) rotated.set(parsed.base, (m = new Map()));
    const slot = m.get(parsed.index) ?? {};
    if (parsed.gz) slot.gz = st;
    else slot.plain = st;
    m.set(parsed.index, slot);
  }
  for (const [name, m] of rotated) {
    const b = base(name);
    const kept: Array<{ index: number; gz: boolean; st: fs.Stats }> = [];
    for (const index of [...m.keys()].sort((x, y) => x - y)) {
      const slot = m.get(index)!;
      if (slot.gz && slot.plain) {
        // compression finished (the .gz was fsynced before its rename) but the original stayed
        fs.rmSync(p(rotatedName(name, index)), { force: true });
        slot.plain = undefined;
      }
      const gz = !!slot.gz;
      const st = (slot.gz ?? slot.plain)!;
      if (index >= maxFiles) {
        res.strays.push({ name: rotatedName(name, index, gz), size: st.size, mtimeMs: st.mtimeMs });
        res.total += st.size;
      } else kept.push({ index, gz, st });
    }
    if (closeHoles(dir, b, kept)) res.renamed = true;
    for (const r of b.chain) {
      res.total += r.size;
      if (!r.gz) res.uncompressed.push({ base: b, ino: r.ino });
    }
  }
  return res;
}

/**
 * Moves every kept rotated file of b down to close holes in the numbering (in order, so each
 * keeps its place) and makes them b's chain. Returns whether anything was renamed.
 */
function closeHoles(dir: string, b: Base, kept: Array<{ index: number; gz: boolean; st: fs.Stats }>, tolerant = false): boolean {
  let renamed = false;
  b.chain = [];
  kept.forEach((k, i) => {
    if (k.index !== i) {
      try {
        fs.renameSync(path.join(dir, rotatedName(b.name, k.index, k.gz)), path.join(dir, rotatedName(b.name, i, k.gz)));
        renamed = true;
      } catch (err) {
        if (!tolerant) throw err; // left where it is; the next start repairs it
      }
    }
    b.chain.push({ ino: k.st.ino, gz: k.gz, size: k.st.size, mtimeMs: k.st.mtimeMs });
  });
  return renamed;
}

/**
 * Rebuilds b's rotated chain (and, when it is closed, its current file) from the directory after
 * a failed rotation, closing any hole. Returns the change in bytes of files logwrite counts.
 */
export function rescanBase(dir: string, maxFiles: number, b: Base): number {
  let delta = 0;
  const found: Array<{ index: number; gz: boolean; st: fs.Stats }> = [];
  for (let i = 0; i < maxFiles; i++) {
    for (const gz of [false, true]) {
      try {
        const st = fs.lstatSync(path.join(dir, rotatedName(b.name, i, gz)));
        if (st.isFile()) found.push({ index: i, gz, st });
      } catch { /* not there */ }
    }
  }
  for (const r of b.chain) delta -= r.size;
  closeHoles(dir, b, found, true);
  for (const r of b.chain) delta += r.size;
  try {
    const st = fs.lstatSync(path.join(dir, currentName(b.name)));
    if (b.fd === null && st.isFile()) {
      delta += st.size - (b.ino === st.ino ? b.size : 0);
      b.ino = st.ino;
      b.size = st.size;
    }
  } catch {
    if (b.fd === null) {
      if (b.ino >= 0) delta -= b.size;
      b.ino = -1;
      b.size = 0;
    }
  }
  return delta;
}
