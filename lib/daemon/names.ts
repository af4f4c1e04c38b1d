// Each source's name as readers send it: its quoted JSON form (escaped once, not per entry) and
// its stream. Shared by every reader of one store.

import { SELF_SOURCE } from '../protocol/constants.js';
import { jsonString } from '../protocol/json.js';
import { streamOf } from '../protocol/v1.js';
import type { Store } from './store.js';

export class NameCache {
  private readonly json: Buffer[] = [];
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
}
