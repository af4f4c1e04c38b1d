// logwrite's state file (`<log-dir>/logwrite.state`): where in memlogd's stream the files end.
//
// {"version":1,"instance":"b5f1c2d3e4a5b6c7","seq":1041,"pending":[...],
//  "files":{"svc.out":{"ino":1234,"size":5678}}}
//
// - instance/seq: the cursor of the last entry consumed (written to its file, or held in pending);
// - pending: pieces of long lines not complete yet (consumed, so they are kept here);
// - files: for every current file logwrite writes to (by base name), its inode and its size at
//   that cursor. After a crash, a current file with that inode is cut back to that size: the
//   lines after it are read again from memlogd, so none is written twice.
//
// Written atomically (client/state-file.ts): a temporary file, fsync (unless --fsync never),
// rename, fsync of the directory. A crash leaves either the old or the new state.

import path from 'node:path';
import { invalidState, readJsonFile, writeFileAtomic } from '../client/state-file.js';
import { STATE_FILE } from './names.js';
import { positionError, type Position } from '../client/tracker.js';

export const STATE_VERSION = 1;

export interface FileState {
  ino: number;
  size: number;
}

export interface State extends Position {
  version: number;
  files: Record<string, FileState>;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/** Validates a parsed state; throws a message naming what is wrong. */
export function checkState(v: unknown): State {
  const bad = invalidState;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('not an object');
  const s = v as Record<string, unknown>;
  if (s.version !== STATE_VERSION) throw bad(`unknown version ${JSON.stringify(s.version)}`);
  const wrong = positionError(s);
  if (wrong) throw bad(wrong);
  if (typeof s.files !== 'object' || s.files === null || Array.isArray(s.files)) throw bad('files');
  for (const [k, f] of Object.entries(s.files as Record<string, FileState>)) {
    if (typeof f !== 'object' || f === null || !isInt(f.ino) || !isInt(f.size) || f.size < 0) throw bad(`files[${JSON.stringify(k)}]`);
  }
  return s as unknown as State;
}

/** Reads the state file; null when there is none. Throws when it exists but is unreadable. */
export function readState(dir: string): State | null {
  const v = readJsonFile(path.join(dir, STATE_FILE));
  return v === null ? null : checkState(v);
}

/**
 * Writes the state atomically. `dirFd` is the directory, open for fsync. Throws the fs error
 * (ENOSPC, EROFS...) and leaves the previous state in place.
 */
export function writeState(dir: string, dirFd: number | null, state: State, sync: boolean): void {
  writeFileAtomic(path.join(dir, STATE_FILE), JSON.stringify(state) + '\n', { sync, dirFd });
}
