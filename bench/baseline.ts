// The physical baseline: the fastest trivial Node reader of the same pipes. It receives the
// read ends exactly as memlogd does (SCM_RIGHTS on a datagram socket), reads them with libuv
// and counts newlines; nothing else. argv: <socket path> <total lines>

import fs from 'node:fs';
import net from 'node:net';
import * as native from '../lib/native/index.js';

const [path, totalArg] = process.argv.slice(2);
const total = Number(totalArg);
let lines = 0;
const fd = native.socketDgram();
fs.rmSync(path, { force: true });
native.bind(fd, path);
const buf = Buffer.alloc(600);
const poll = native.pollStart(fd, native.POLL_READABLE, () => {
  let r;
  while ((r = native.recvmsg(fd, buf)) !== null) {
    for (const f of r.fds) {
      const s = new net.Socket({ fd: f, readable: true, writable: false });
      s.on('data', (chunk: Buffer) => {
        let pos = 0;
        let nl: number;
        while ((nl = chunk.indexOf(10, pos)) !== -1) {
          lines++;
          pos = nl + 1;
        }
        if (lines >= total) {
          process.stdout.write(JSON.stringify({ received: lines, lastAt: process.hrtime.bigint().toString() }) + '\n');
          native.pollStop(poll);
          fs.rmSync(path, { force: true });
          process.exit(0);
        }
      });
      s.on('end', () => s.destroy());
    }
  }
});
process.stdout.write('ready\n');
