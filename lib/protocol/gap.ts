// What a gap says in words: the v1 entry memlogd sends in place of missed entries, logread's
// terminal banner, and logwrite's line in `memlogd.log`. All gap wording lives here, so a client
// that recognizes a gap (the bench, tests) parses exactly what memlogd writes. Pure.
//
// When the gap record says whose the missed entries were, every form ends with
// `; by source: "web" 40, "db" 8`: most first, each name JSON-quoted so that any name (a comma,
// a quote, a newline in it) reads back exactly (gapSourcesV1).

import type { BySource, GapRecord } from './v2.js';

type Gap = Pick<GapRecord, 'from' | 'to' | 'count' | 'reason'> & { type?: 'gap'; previous?: string; sources?: BySource };

/** What precedes the per-source breakdown in every wording. */
const BY_SOURCE = '; by source: ';
/** Names a terminal banner shows before summing up the rest. */
const BANNER_SOURCES = 5;

/**
 * `"web" 40, "db" 8`: most first (ties in the record's order); after `limit` names the rest are
 * summed up as `and 3 more sources with 12`.
 */
export function sourcesText(sources: BySource, limit = Infinity): string {
  const list = Object.entries(sources).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  const shown = list.slice(0, limit).map(([name, n]) => `${JSON.stringify(name)} ${n}`);
  const rest = list.slice(limit);
  if (rest.length > 0) shown.push(`and ${rest.length} more source${rest.length === 1 ? '' : 's'} with ${rest.reduce((a, [, n]) => a + n, 0)}`);
  return shown.join(', ');
}

/** text, then the breakdown when the gap has one. */
function bySource(text: string, g: Gap, limit = Infinity): string {
  return g.sources && Object.keys(g.sources).length > 0 ? text + BY_SOURCE + sourcesText(g.sources, limit) : text;
}

/** `1 entry` / `48 entries` */
export function entriesText(n: number): string {
  return n === 1 ? '1 entry' : `${n} entries`;
}

/** Every v1 gap message starts with this (a v1 reader tells gaps from other memlogd notes by it). */
export const GAP_PREFIX = 'gap: ';

/** The message of the v1 entry (source memlogd) that reports a gap to a v1 reader. */
export function gapMessageV1(g: Gap): string {
  const what = entriesText(g.count);
  if (g.reason === 'lagged') return bySource(`${GAP_PREFIX}this reader fell behind and missed ${what} (seq ${g.from}-${g.to}), evicted before it read them`, g);
  if (g.reason === 'restarted') {
    return g.count === 0
      ? `${GAP_PREFIX}memlogd restarted; what it held after the previous cursor is gone`
      : bySource(`${GAP_PREFIX}memlogd restarted; what it held after the previous cursor is gone, and ${what} of the new instance (seq ${g.from}-${g.to}) too`, g);
  }
  return bySource(`${GAP_PREFIX}${what} (seq ${g.from}-${g.to}) evicted earlier to make room`, g);
}

/**
 * How many entries a v1 gap message reports missed; null when msg is not a gap message. (The
 * first match is in the fixed wording, before any source name.)
 */
export function gapCountV1(msg: string): number | null {
  if (!msg.startsWith(GAP_PREFIX)) return null;
  const m = /(?:^gap: |missed |, and )(\d+) entr(?:y|ies) /.exec(msg);
  if (m) return Number(m[1]);
  return msg.includes('memlogd restarted') ? 0 : null;
}

/** The reason of a v1 gap message (gapMessageV1); null when msg is not a gap message. */
export function gapReasonV1(msg: string): GapRecord['reason'] | null {
  if (!msg.startsWith(GAP_PREFIX)) return null;
  if (msg.startsWith(`${GAP_PREFIX}this reader fell behind `)) return 'lagged';
  if (msg.startsWith(`${GAP_PREFIX}memlogd restarted`)) return 'restarted';
  return 'evicted';
}

/**
 * Whose the entries a v1 gap message (gapMessageV1) reports missed were; null when it does not
 * say (an older memlogd, or one that no longer knew) or msg is not a gap message.
 */
export function gapSourcesV1(msg: string): BySource | null {
  if (!msg.startsWith(GAP_PREFIX)) return null;
  const at = msg.indexOf(BY_SOURCE);
  if (at < 0) return null;
  const out: BySource = Object.create(null);
  // `"name" 40, "other" 8`: a JSON string literal, a space, digits; then `, ` or the end
  const item = /("(?:[^"\\]|\\.)*") (\d+)(?:, |$)/y;
  item.lastIndex = at + BY_SOURCE.length;
  while (item.lastIndex < msg.length) {
    const m = item.exec(msg);
    if (!m) return null;
    let name: string;
    try {
      name = JSON.parse(m[1]) as string;
    } catch {
      return null;
    }
    out[name] = (out[name] ?? 0) + Number(m[2]);
  }
  return out;
}

/** The terminal banner of a gap: `--- memlogd: 48 entries missed (lagged, seq 1000-1047) ---`. */
export function gapBanner(g: Gap): string {
  if (g.reason === 'restarted') {
    return g.count > 0
      ? `--- memlogd restarted: ${bySource(`${entriesText(g.count)} of the new instance missed (seq ${g.from}-${g.to})`, g, BANNER_SOURCES)} ---`
      : '--- memlogd restarted ---';
  }
  return `--- memlogd: ${bySource(`${entriesText(g.count)} missed (${g.reason}, seq ${g.from}-${g.to})`, g, BANNER_SOURCES)} ---`;
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
      return bySource(`${GAP_PREFIX}${who} fell behind and missed ${what}${range}; memlogd evicted them before they were ${verb.past}`, g);
    case 'restarted':
      return bySource(`${GAP_PREFIX}memlogd restarted (was ${g.previous ?? 'unknown'}, now instance ${instance ?? 'unknown'}); `
        + `lines it held but ${who} had not ${verb.past} yet are lost${g.count > 0 ? `, and ${what} of the new instance${range} were evicted before ${who} connected` : ''}`, g);
    default:
      return bySource(`${GAP_PREFIX}${what}${range} evicted by memlogd before ${who} could ${verb.base} them`, g);
  }
}
