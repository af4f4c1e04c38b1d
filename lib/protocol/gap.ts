// What a gap says in words: the v1 entry memlogd sends in place of missed entries, logread's
// terminal banner, and logwrite's line in `memlogd.log`. All gap wording lives here, so a client
// that recognizes a gap (the bench, tests) parses exactly what memlogd writes. Pure.

import type { GapRecord } from './v2.js';

type Gap = Pick<GapRecord, 'from' | 'to' | 'count' | 'reason'> & { type?: 'gap'; previous?: string };

/** `1 entry` / `48 entries` */
export function entriesText(n: number): string {
  return n === 1 ? '1 entry' : `${n} entries`;
}

/** Every v1 gap message starts with this (a v1 reader tells gaps from other memlogd notes by it). */
export const GAP_PREFIX = 'gap: ';

/** The message of the v1 entry (source memlogd) that reports a gap to a v1 reader. */
export function gapMessageV1(g: Gap): string {
  const what = entriesText(g.count);
  if (g.reason === 'lagged') return `${GAP_PREFIX}this reader fell behind and missed ${what} (seq ${g.from}-${g.to}), evicted before it read them`;
  if (g.reason === 'restarted') {
    return g.count === 0
      ? `${GAP_PREFIX}memlogd restarted; what it held after the previous cursor is gone`
      : `${GAP_PREFIX}memlogd restarted; what it held after the previous cursor is gone, and ${what} of the new instance (seq ${g.from}-${g.to}) too`;
  }
  return `${GAP_PREFIX}${what} (seq ${g.from}-${g.to}) evicted earlier to make room`;
}

/** How many entries a v1 gap message reports missed; null when msg is not a gap message. */
export function gapCountV1(msg: string): number | null {
  if (!msg.startsWith(GAP_PREFIX)) return null;
  const m = /(?:^gap: |missed |, and )(\d+) entr(?:y|ies) /.exec(msg);
  if (m) return Number(m[1]);
  return msg.includes('memlogd restarted') ? 0 : null;
}

/** The terminal banner of a gap: `--- memlogd: 48 entries missed (lagged, seq 1000-1047) ---`. */
export function gapBanner(g: Gap): string {
  if (g.reason === 'restarted') {
    return g.count > 0
      ? `--- memlogd restarted: ${entriesText(g.count)} of the new instance missed (seq ${g.from}-${g.to}) ---`
      : '--- memlogd restarted ---';
  }
  return `--- memlogd: ${entriesText(g.count)} missed (${g.reason}, seq ${g.from}-${g.to}) ---`;
}

/** The verb a persisting client's gap text uses for what it does with a line. */
export interface GapVerb {
  /** `write` (logwrite), `send` (logforward) */
  base: string;
  /** `written`, `sent` */
  past: string;
}

const WRITE: GapVerb = { base: 'write', past: 'written' };

/** A gap as a persisting client (logwrite, logforward) words it; `who` is the client's name. */
export function gapTextFor(who: string, g: Gap, instance: string | null, verb: GapVerb = WRITE): string {
  const what = entriesText(g.count);
  const range = g.count > 0 ? ` (seq ${g.from}-${g.to})` : '';
  switch (g.reason) {
    case 'lagged':
      return `${GAP_PREFIX}${who} fell behind and missed ${what}${range}; memlogd evicted them before they were ${verb.past}`;
    case 'restarted':
      return `${GAP_PREFIX}memlogd restarted (was ${g.previous ?? 'unknown'}, now instance ${instance ?? 'unknown'}); `
        + `lines it held but ${who} had not ${verb.past} yet are lost${g.count > 0 ? `, and ${what} of the new instance${range} were evicted before ${who} connected` : ''}`;
    default:
      return `${GAP_PREFIX}${what}${range} evicted by memlogd before ${who} could ${verb.base} them`;
  }
}
