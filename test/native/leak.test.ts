// Nothing leaks: open fds are counted around 200 full cycles of
// socket/bind/connect, fd passing, receive and close.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, it } from 'vitest';
import * as native from '../../lib/native/index.js';
import { useCleanups } from '../support/cleanup.js';
import { openFdCount } from '../support/native.js';

const { tmpDir } = useCleanups();

it('200 send/receive/close cycles leave the fd count unchanged', () => {
  const dir = tmpDir();
  const buf = Buffer.alloc(64);
  const cycle = (i: number): void => {
    const p = path.join(dir, `s${i % 3}.sock`);
    const rx = native.socketDgram();
    native.bind(rx, p);
    const tx = native.socketDgram();
    native.connect(tx, p);
    const [r, w] = native.pipe();
    const pipes = [native.pipe(), native.pipe()];
    const sent = [r, ...pipes.map(([pr]) => pr)];
    expect(native.sendmsg(tx, Buffer.from(`cycle ${i}`), i % 2 ? sent : [r])).toBe(`cycle ${i}`.length);
    expect(native.sendmsg(tx, Buffer.from('bare'))).toBe(4);
    const res = native.recvmsg(rx, buf)!;
    expect(res.fds).toHaveLength(i % 2 ? 3 : 1);
    fs.writeSync(w, 'x');
    expect(fs.readSync(res.fds[0]!, Buffer.alloc(1), 0, 1, null)).toBe(1);
    expect(native.recvmsg(rx, buf)).toMatchObject({ bytes: 4, fds: [] });
    expect(native.recvmsg(rx, buf)).toBeNull();
    for (const fd of [...res.fds, rx, tx, r, w, ...pipes.flat()]) native.close(fd);
    fs.unlinkSync(p);
    // Datagrams still queued with fds when the receiver closes: the kernel
    // must drop them (their fds) too.
    const [a, b] = native.socketpair(native.SOCK_DGRAM);
    const [q, z] = native.pipe();
    native.sendmsg(a, Buffer.from('orphan'), [q, z]);
    native.close(b);
    native.close(a);
    native.close(q);
    native.close(z);
  };
  // One warm-up cycle so lazily opened fds (if any) exist before counting.
  cycle(-1);
  const before = openFdCount();
  for (let i = 0; i < 200; i++) cycle(i);
  expect(openFdCount()).toBe(before);
});

it('a truncated receive with fds still delivers (and lets us close) every fd', () => {
  const before = openFdCount();
  for (let i = 0; i < 50; i++) {
    const [a, b] = native.socketpair(native.SOCK_DGRAM);
    const [r, w] = native.pipe();
    native.sendmsg(a, Buffer.alloc(500, 1), [r, w]);
    const res = native.recvmsg(b, Buffer.alloc(10))!;
    expect(res).toMatchObject({ bytes: 10, fullLength: 500 });
    expect(res.fds).toHaveLength(2);
    for (const fd of [...res.fds, a, b, r, w]) native.close(fd);
  }
  expect(openFdCount()).toBe(before);
});
