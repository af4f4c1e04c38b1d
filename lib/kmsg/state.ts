// kmsg's state file: the next sequence number to relay, with the boot it belongs to, so that a
// restarted kmsg adds no duplicates. Sequence numbers start over at every boot, so a state from
// another boot (a state file on a persistent disk) is ignored: it must not make a new boot's first
// records look already relayed. Written atomically (temporary file, rename).

import fs from 'node:fs';
import path from 'node:path';

/** Where the kernel says which boot this is (a random UUID per boot). */
export const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';
/** Default state file: /run is a tmpfs that a reboot empties (the boot id guards a persistent one too). */
export const DEFAULT_STATE = '/run/memlogd-kmsg.state';

export interface KmsgState {
  bootId: string;
  /** The first sequence number not relayed yet. */
  nextSeq: number;
}

export function readBootId(file = BOOT_ID_PATH): string {
  return fs.readFileSync(file, 'utf8').trim();
}

/** The state for this boot, or null: no file, another boot's file, or one that is not a state (said via warn). */
export function readState(file: string, bootId: string, warn: (m: string) => void): KmsgState | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') warn(`cannot read state ${file}: ${(err as Error).message}; starting as after boot`);
    return null;
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    v = null;
  }
  const s = v as Partial<KmsgState> | null;
  if (!s || typeof s.bootId !== 'string' || typeof s.nextSeq !== 'number' || !Number.isSafeInteger(s.nextSeq) || s.nextSeq < 0) {
    warn(`state ${file} is not a kmsg state; starting as after boot`);
    return null;
  }
  if (s.bootId !== bootId) return null; // another boot's: its sequence numbers mean nothing now
  return { bootId: s.bootId, nextSeq: s.nextSeq };
}

export function writeState(file: string, s: KmsgState): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, JSON.stringify(s) + '\n', { mode: 0o644 });
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}
