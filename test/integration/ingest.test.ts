// The logging socket: fairness between sources, several fds per datagram, and bad input that
// must be logged under source memlogd without disturbing anything else.

import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { sendFds } from '../../lib/client/handoff.js';
import * as native from '../../lib/native/index.js';
import { dump, fdCount, handOff, startDaemon, waitFor, waitForEntry, type RunningDaemon } from '../support/helpers.js';

let d: RunningDaemon | undefined;
afterEach(async () => {
  await d?.stop();
  d = undefined;
});

/** Sends one raw datagram (payload, fds) to the logging socket. */
function rawDatagram(sock: string, payload: Buffer, fds: number[]): void {
  const s = native.socketDgram();
  try {
    native.connect(s, sock);
    expect(native.sendmsg(s, payload, fds)).toBe(payload.length);
  } finally {
    native.close(s);
  }
}

/** True once the read end behind w has been closed by memlogd (a write then fails with EPIPE). */
function readerClosed(w: number): boolean {
  try {
    fs.writeSync(w, 'x');
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPIPE';
  }
}

describe('ingest', () => {
  it('a source writing 1000x more cannot erase a quiet one', async () => {
    d = await startDaemon(['-max-lines', '1000']);
    const [qr, qw] = native.pipe();
    sendFds(d.log, 'quiet', [qr]);
    native.close(qr);
    for (let round = 0; round < 10; round++) {
      fs.writeSync(qw, `quiet ${round}\n`);
      let text = '';
      for (let i = 0; i < 10_000; i++) text += `noisy ${round}.${i}\n`;
      handOff(d.log, 'noisy', text);
      await waitForEntry(d.query, (e) => e.msg === `noisy ${round}.9999`, `round ${round}`);
    }
    native.close(qw);
    const all = await dump(d.query);
    // a dump reports the holes eviction left as gap records; everything else is the store
    const gaps = all.filter((e) => e.source === 'memlogd' && e.msg.startsWith('gap:'));
    expect(gaps.length).toBeGreaterThan(0);
    const es = all.filter((e) => !gaps.includes(e));
    expect(es.length).toBeLessThanOrEqual(1000);
    expect(es.filter((e) => e.source === 'quiet').map((e) => e.msg)).toEqual(Array.from({ length: 10 }, (_, i) => `quiet ${i}`));
    expect(es.filter((e) => e.source === 'noisy').length).toBeGreaterThan(900);
  });

  it('reads every fd of a datagram under its one name', async () => {
    d = await startDaemon();
    const pipes = [native.pipe(), native.pipe(), native.pipe()];
    sendFds(d.log, 'multi', pipes.map(([r]) => r));
    pipes.forEach(([r, w], i) => {
      native.close(r);
      fs.writeSync(w, `from pipe ${i}\n`);
      native.close(w);
    });
    const es = await waitFor(async () => {
      const all = (await dump(d!.query)).filter((e) => e.source === 'multi');
      return all.length === 3 ? all : null;
    }, 'three lines');
    expect(es.map((e) => e.msg).sort()).toEqual(['from pipe 0', 'from pipe 1', 'from pipe 2']);
  });

  it('logs bad datagrams and bad fds under memlogd, closes them, keeps serving', async () => {
    d = await startDaemon();
    const before = fdCount(d.proc.pid!);
    // 1. no fds at all
    rawDatagram(d.log, Buffer.from('nofds'), []);
    // 2. a name far over 512 bytes, with a pipe that must be closed unread
    const [hr, hw] = native.pipe();
    rawDatagram(d.log, Buffer.alloc(4096, 'n'), [hr]);
    native.close(hr);
    // 3. the write end of a pipe (not readable) and a character device
    const [wr, ww] = native.pipe();
    const devnull = fs.openSync('/dev/null', 'r');
    rawDatagram(d.log, Buffer.from('wrongend'), [ww, devnull]);
    native.close(ww);
    fs.closeSync(devnull);
    // and a good source still works afterwards
    handOff(d.log, 'good', 'still here\n');
    const es = await waitForEntry(d.query, (e) => e.msg === 'still here', 'good line');
    const self = es.filter((e) => e.source === 'memlogd').map((e) => e.msg);
    expect(self.some((m) => new RegExp(`"nofds" from pid ${process.pid} uid \\d+ carried no fds`).test(m))).toBe(true);
    expect(self.some((m) => /name of 4096 bytes is longer than 512/.test(m))).toBe(true);
    expect(self.some((m) => m.includes('"wrongend"') && m.includes('write-only'))).toBe(true);
    expect(self.some((m) => m.includes('"wrongend"') && m.includes('character device'))).toBe(true);
    expect(readerClosed(hw)).toBe(true); // memlogd closed the fd of the refused datagram
    native.close(hw);
    native.close(wr);
    await waitFor(() => fdCount(d!.proc.pid!) <= before, 'refused fds to be closed');
  });

  it('reads a regular file handed over like a pipe', async () => {
    d = await startDaemon();
    const file = `${d.dir}/f.txt`;
    fs.writeFileSync(file, 'from a file\nsecond\n');
    const fd = fs.openSync(file, 'r');
    sendFds(d.log, 'file', [fd]);
    fs.closeSync(fd);
    const es = await waitForEntry(d.query, (e) => e.msg === 'second', 'file lines');
    expect(es.filter((e) => e.source === 'file').map((e) => e.msg)).toEqual(['from a file', 'second']);
  });
});
