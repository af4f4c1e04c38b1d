// Which errors mean "the disk refused" (full, read-only, failing): logwrite waits those out and
// retries from the same position; any other error is a bug and propagates.

import { DiskError } from '../protocol/errors.js';

/** A DiskError, or an error from fs (a code like ENOSPC, from a system call) that means the disk refused. */
export function isDiskError(err: unknown): err is Error & { code?: string } {
  return err instanceof DiskError || (typeof (err as NodeJS.ErrnoException)?.code === 'string' && (err as NodeJS.ErrnoException).syscall !== undefined);
}

/** err as a DiskError about file. */
export function asDisk(file: string, err: unknown): DiskError {
  return err instanceof DiskError ? err : new DiskError((err as NodeJS.ErrnoException).code ?? 'EIO', file, err);
}
