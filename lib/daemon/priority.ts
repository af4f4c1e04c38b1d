// Each line's priority (facility * 8 + severity, protocol/severity.ts) as it is stored: its
// stream's default (stdout info, stderr err), or, for sources that opted in (--level-prefix, by
// default kmsg), the `<N>` at the start of the line, which is then taken off (journald's stream
// protocol does this; kmsg writes it). The pieces of a long line all have the first piece's.

import { parsePri } from '../protocol/syslog.js';
import { UsageError } from '../protocol/errors.js';
import { globToRegExp } from '../protocol/glob.js';
import { facilityOf, parseFacility, priOfPrefix } from '../protocol/severity.js';
import { PARTIAL } from './framing.js';

export interface PriorityPolicy {
  /** The priority of a line that does not say. */
  pri: number;
  /** Read a `<N>` prefix at the start of each line. */
  prefix: boolean;
}

/** Lines per batch (framing.ts BATCH_LINES): one array for every input, as the framer's. */
const PRIS = new Uint8Array(4096);

export class LinePriority {
  /** The next piece continues a line (it has that line's priority, and no prefix of its own). */
  private continuing = false;
  private linePri: number;
  /** Where the line starts once its prefix is taken off (set by line()). */
  start = 0;

  constructor(readonly policy: PriorityPolicy) {
    this.linePri = policy.pri;
  }

  /** One line or piece buf[start, end): its priority; this.start is where its text starts. */
  line(buf: Uint8Array, start: number, end: number, flags: number): number {
    this.start = start;
    if (this.policy.prefix && !this.continuing) {
      const p = parsePri(buf, start, end);
      this.linePri = p ? priOfPrefix(p[0], facilityOf(this.policy.pri)) : this.policy.pri;
      if (p) this.start = start + p[1];
    }
    this.continuing = (flags & PARTIAL) !== 0;
    return this.policy.prefix ? this.linePri : this.policy.pri;
  }

  /** A batch of lines: null when every line has the default, else each one's (starts adjusted). */
  batch(buf: Uint8Array, starts: Int32Array, ends: Int32Array, flags: Uint8Array, n: number): Uint8Array | null {
    if (!this.policy.prefix) return null;
    for (let i = 0; i < n; i++) {
      PRIS[i] = this.line(buf, starts[i], ends[i], flags[i]);
      starts[i] = this.start;
    }
    return PRIS;
  }
}

/** A --level-prefix value: the sources it names, and the facility of their lines that give only a level. */
export interface LevelPrefix {
  glob: RegExp;
  facility: number | null;
}

/** `GLOB` or `GLOB:FACILITY` (`kmsg:kern`); throws a usage error naming what is wrong. */
export function parseLevelPrefix(v: string): LevelPrefix {
  const colon = v.lastIndexOf(':');
  let facility: number | null = null;
  let glob = v;
  if (colon >= 0) {
    facility = parseFacility(v.slice(colon + 1));
    if (facility === null) throw new UsageError(`--level-prefix ${JSON.stringify(v)}: ${JSON.stringify(v.slice(colon + 1))} is not a facility (kern, user, daemon, local0 ... or 0-23)`);
    glob = v.slice(0, colon);
  }
  try {
    return { glob: globToRegExp(glob), facility };
  } catch (err) {
    throw new UsageError(`--level-prefix ${JSON.stringify(v)}: ${(err as Error).message}`);
  }
}
