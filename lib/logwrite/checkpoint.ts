// Checkpoints: the state file written where the files and the position agree. With --fsync
// line after every batch; otherwise at most once per interval (a timer armed by the batch that
// moved the position), and at every clean point that changes files (rotation, a new file).

import { DiskError } from '../protocol/errors.js';
import { isDiskError } from './disk.js';
import type { LogFiles } from './files.js';
import type { FsyncPolicy } from './options.js';
import { STATE_VERSION, writeState, type State } from './state.js';
import type { Tracker } from '../client/tracker.js';

export class Checkpoints {
  /** The state last written (JSON), to skip writing the same one again. */
  private last: string;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly dir: string, private readonly fsync: FsyncPolicy, private readonly files: LogFiles,
    private readonly tracker: Tracker, saved: State | null) {
    this.last = saved ? JSON.stringify(saved) : '';
  }

  /** Writes the state file (after fsync of the data, unless --fsync never); force: register files even if unchanged. */
  write(force = false): void {
    const sync = this.fsync.mode !== 'never';
    if (sync) this.files.fsyncAll();
    const table = this.files.table();
    const state: State = { version: STATE_VERSION, ...this.tracker.position(), files: table };
    const text = JSON.stringify(state);
    if (!force && text === this.last) return;
    if (text !== this.last) {
      try {
        writeState(this.dir, this.files.dirFd, state, sync);
      } catch (err) {
        throw isDiskError(err) && !(err instanceof DiskError) ? new DiskError((err as NodeJS.ErrnoException).code!, 'logwrite.state', err) : err;
      }
      this.last = text;
    }
    this.files.markRegistered(table);
  }

  /** Calls fire once the interval has passed (one timer at a time). */
  arm(fire: () => void): void {
    if (this.timer) return;
    const ms = this.fsync.mode === 'interval' ? this.fsync.ms : 1000;
    this.timer = setTimeout(() => {
      this.timer = null;
      fire();
    }, ms);
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
