// logforward's state file: per destination (by its key, see uri.ts), the position of the last
// message known to have arrived, and the mark below which every message sent so far lies.
//
// {"version":1,"destinations":{"relp://logs:2514":{"instance":"b5f1c2d3e4a5b6c7","seq":1041,
//   "pending":[],"sent":{"instance":"b5f1c2d3e4a5b6c7","seq":1170}}}}
//
// - instance/seq/pending: the cursor to resume after and the pieces of a long line being joined
//   (client/tracker.ts), as they were when the message before it had arrived;
// - sent: messages after the cursor up to this seq may have been sent already: after a restart
//   they are sent again and counted as possible duplicates.
// Written atomically (client/state-file.ts). Destinations of earlier runs that are not given now
// are kept as they were.

import { invalidState, readJsonFile, writeFileAtomic } from '../client/state-file.js';
import { positionError, type Position } from '../client/tracker.js';

export const STATE_VERSION = 1;

export interface SavedDestination extends Position {
  sent?: { instance: string; seq: number };
}

export type SavedDestinations = Record<string, SavedDestination>;

/** What is wrong with a parsed state, or null. */
function stateError(v: unknown): string | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not an object';
  const s = v as Record<string, unknown>;
  if (s.version !== STATE_VERSION) return `unknown version ${JSON.stringify(s.version)}`;
  if (typeof s.destinations !== 'object' || s.destinations === null || Array.isArray(s.destinations)) return 'destinations';
  for (const [k, d] of Object.entries(s.destinations as Record<string, unknown>)) {
    if (typeof d !== 'object' || d === null) return `destination ${k}`;
    const wrong = positionError(d as Record<string, unknown>);
    if (wrong) return `destination ${k}: ${wrong}`;
    const sent = (d as SavedDestination).sent;
    if (sent !== undefined && (typeof sent !== 'object' || sent === null || typeof sent.instance !== 'string'
      || !Number.isSafeInteger(sent.seq))) return `destination ${k}: sent`;
  }
  return null;
}

/** The destinations saved in file: {} when there is none. Throws when it exists but is not a state. */
export function readForwardState(file: string): SavedDestinations {
  const v = readJsonFile(file);
  if (v === null) return {};
  const wrong = stateError(v);
  if (wrong) throw invalidState(wrong);
  return (v as { destinations: SavedDestinations }).destinations;
}

export function writeForwardState(file: string, destinations: SavedDestinations, sync: boolean): void {
  writeFileAtomic(file, JSON.stringify({ version: STATE_VERSION, destinations }) + '\n', { sync });
}
