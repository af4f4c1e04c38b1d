// Each source's name as readers send it: its quoted JSON form (escaped once, not per entry), its
// stream, and the string a client decodes from it (the names of a gap's per-source breakdown).
// Shared by every reader of one store.

import { SELF_SOURCE } from '../protocol/constants.js';
import { jsonString } from '../protocol/json.js';
import { streamOf } from '../protocol/v1.js';
import type { BySourceList } from '../protocol/v2.js';
import type { Store } from './store.js';

export class NameCache {
  private readonly json: Buffer[] = [];
  private readonly texts: string[] = [];
  private readonly stdout: boolean[] = [];
  private self?: Buffer;
  constructor(private readonly store: Store) {}
  get(id: number): Buffer {
    return this.json[id] ?? (this.json[id] = jsonString(this.store.sources[id].name));
  }
  isStdout(id: number): boolean {
    return this.stdout[id] ?? (this.stdout[id] = streamOf(this.store.sources[id].name.toString('latin1')) === 'stdout');
  }
  get selfJson(): Buffer {
    return this.self ?? (this.self = jsonString(Buffer.from(SELF_SOURCE)));
  }
  /**
   * The name as a client reads it from an entry: bytes that are not UTF-8 are one U+FFFD each,
   * as memlogd encodes them (Buffer's own decoding may fold several into one).
   */
  text(id: number): string {
    return this.texts[id] ?? (this.texts[id] = JSON.parse(this.get(id).toString('utf8')) as string);
  }
  /**
   * Counts by source id as a record's breakdown: by name (two names a client cannot tell apart,
   * bytes that are not UTF-8, add up), most first, ties in the order the sources first appeared.
   */
  bySource(counts: ReadonlyMap<number, number>): BySourceList {
    const byText = new Map<string, [first: number, n: number]>();
    for (const [id, n] of counts) {
      const t = this.text(id);
      const had = byText.get(t);
      byText.set(t, had ? [Math.min(had[0], id), had[1] + n] : [id, n]);
    }
    return [...byText].sort((a, b) => b[1][1] - a[1][1] || a[1][0] - b[1][0]).map(([t, [, n]]) => [t, n] as const);
  }
}
