// One logwrite per log directory: an abstract unix socket named after the directory's device and
// inode is the lock. The kernel frees it on any exit, kill -9 included, so no stale lock files.

import fs from 'node:fs';
import net from 'node:net';
import { ERR, MemlogdError } from '../protocol/errors.js';

/** Holds the directory: an abstract unix socket named after its device and inode (freed on any exit). */
export async function lockDir(dir: string): Promise<net.Server> {
  const st = fs.statSync(dir);
  const name = `\0memlogd-logwrite:${st.dev}:${st.ino}`;
  const srv = net.createServer((c) => c.destroy());
  await new Promise<void>((resolve, reject) => {
    srv.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE'
        ? new MemlogdError(ERR.LOGWRITE_LOCKED, `another logwrite is writing to ${dir}`)
        : err);
    });
    srv.listen({ path: name }, () => resolve());
  });
  srv.unref();
  return srv;
}
