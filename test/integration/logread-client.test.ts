// logread() against a scripted query server on a real socket: what it sends, prints and saves.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../support/cleanup.js';
import { logread } from '../../lib/logread/command.js';
import { gapMessageV1 } from '../../lib/protocol/gap.js';
import { formatText } from '../../lib/protocol/v1.js';

const NOW = Date.UTC(2026, 10, 21, 6, 0, 0);

const { tmpDir: tmp } = useCleanups();

// ---------------------------------------------------------------------------------------------
// logread() against a scripted server on a real socket

interface Conn {
  request: Buffer;
  sock: net.Socket;
}

/** A query socket that hands every connection, once its request is complete, to script. */
async function fakeServer(script: (c: Conn, n: number) => void, file?: string): Promise<{ path: string; conns: Conn[]; close: () => void }> {
  const p = file ?? path.join(tmp(), 'q.sock');
  const conns: Conn[] = [];
  const server = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('error', () => {});
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf[0] === 0x7b && !buf.includes(0x0a)) return;
      sock.off('data', onData);
      const c = { request: buf, sock };
      conns.push(c);
      script(c, conns.length);
    };
    sock.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(p, r));
  return { path: p, conns, close: () => server.close() };
}

class Collect extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

const e = (seq: number, source: string, msg: string) =>
  JSON.stringify({ seq, time: `2026-11-21T05:40:0${seq % 10}.5Z`, source, stream: source.endsWith('.out') ? 'stdout' : 'stderr', msg });
const start = (instance = 'aa', oldest = 0, next = 10) => JSON.stringify({ type: 'start', instance, oldest, next });

describe('logread() v1', () => {
  it('sends one mode byte and prints the reference text lines', async () => {
    const srv = await fakeServer(({ sock }) => sock.end('{"time":"2026-11-21T05:40:00Z","source":"a;b","msg":"x;y"}\n'));
    for (const [o, byte] of [[{}, 0], [{ follow: true }, 1], [{ dumpFollow: true }, 2]] as const) {
      const out = new Collect();
      await logread({ socket: srv.path, ...o }, out);
      expect(out.text).toBe('2026-11-21T05:40:00Z;a\\;b;x;y\n');
      expect([...srv.conns.at(-1)!.request]).toEqual([byte]);
    }
    srv.close();
  });
});

describe('logread() v2', () => {
  it('sends the request line; --json prints entries and gaps as received, nothing else', async () => {
    const gap = '{"type":"gap","from":3,"to":4,"count":2,"reason":"evicted"}';
    const srv = await fakeServer(({ sock }) => sock.end([start(), e(2, 'a.out', 'x'), gap, e(5, 'b', '<&>'), '{"type":"end","next":6}', ''].join('\n')));
    const out = new Collect();
    await logread({ socket: srv.path, json: true, sources: ['a*', 'b'] }, out);
    expect(srv.conns[0].request.toString()).toBe('{"mode":"dump","sources":["a*","b"]}\n');
    expect(out.text).toBe([e(2, 'a.out', 'x'), gap, e(5, 'b', '<&>'), ''].join('\n'));
    srv.close();
  });

  it('text: entries as reference lines, a gap as <now>;memlogd;<v1 gap message>', async () => {
    const g = { type: 'gap', from: 3, to: 4, count: 2, reason: 'lagged' } as const;
    const srv = await fakeServer(({ sock }) => sock.end([start(), e(2, 'a.out', 'x'), JSON.stringify(g), '{"type":"end","next":5}', ''].join('\n')));
    const out = new Collect();
    await logread({ socket: srv.path, tail: 10, now: () => NOW }, out);
    expect(out.text).toBe(`${formatText({ time: '2026-11-21T05:40:02.5Z', source: 'a.out', msg: 'x' })}\n`
      + `2026-11-21T06:00:00Z;memlogd;${gapMessageV1(g)}\n`);
    srv.close();
  });

  it('an error record: what came before is printed, then a coded error with its message', async () => {
    const srv = await fakeServer(({ sock }) => sock.end('{"type":"error","code":"ERR_ACCESS_DENIED","message":"uid 5 may not query"}\n'));
    const out = new Collect();
    await expect(logread({ socket: srv.path, json: true }, out)).rejects.toMatchObject({
      code: 'ERR_ACCESS_DENIED', message: 'memlogd refused the request: uid 5 may not query',
    });
    srv.close();
  });

  it('a malformed record is a protocol error', async () => {
    const srv = await fakeServer(({ sock }) => sock.end(start() + '\nnot json\n'));
    await expect(logread({ socket: srv.path, json: true }, new Collect())).rejects.toMatchObject({ code: 'ERR_MEMLOGD_PROTOCOL' });
    srv.close();
  });

  it('a dump cut short, or a v1-only memlogd closing on "{", is an error without --retry', async () => {
    let srv = await fakeServer(({ sock }) => sock.end(start() + '\n' + e(1, 'a', 'x') + '\n'));
    await expect(logread({ socket: srv.path, json: true }, new Collect())).rejects.toThrow(/closed the connection before the end of the dump/);
    srv.close();
    srv = await fakeServer(({ sock }) => sock.end());
    await expect(logread({ socket: srv.path, json: true }, new Collect())).rejects.toThrow(/without answering the v2 request/);
    srv.close();
  });

  it('cannot connect: ERR_MEMLOGD_CONNECT', async () => {
    await expect(logread({ socket: path.join(tmp(), 'none.sock'), json: true }, new Collect())).rejects.toMatchObject({ code: 'ERR_MEMLOGD_CONNECT' });
  });

  it('--retry: reconnects after the last entry received (no tail), prints the restarted gap, no duplicates', async () => {
    const notices: string[] = [];
    const srv = await fakeServer(({ sock }, n) => {
      if (n === 1) sock.end([start('aa'), e(8, 'a', 'one'), e(9, 'a', 'two'), ''].join('\n')); // then drops
      else {
        sock.end([start('bb', 0, 2), '{"type":"gap","from":0,"to":0,"count":0,"reason":"restarted","previous":"aa:9"}',
          e(0, 'memlogd', 'memlogd started'), e(1, 'a', 'three'), '{"type":"end","next":2}', ''].join('\n'));
      }
    });
    const out = new Collect();
    await logread({ socket: srv.path, tail: 2, json: true, retry: true, retryMinDelay: 1, retryMaxDelay: 5, notice: (m) => notices.push(m) }, out);
    expect(srv.conns.map((c) => c.request.toString())).toEqual(['{"mode":"dump","tail":2}\n', '{"mode":"dump","after":"aa:9"}\n']);
    expect(out.text.split('\n').filter(Boolean).map((l) => JSON.parse(l).msg ?? JSON.parse(l).reason))
      .toEqual(['one', 'two', 'restarted', 'memlogd started', 'three']);
    expect(notices).toEqual(['lost the connection to memlogd; reconnecting', 'connected to memlogd again']);
    srv.close();
  });

  it('--retry: waits for memlogd to appear', async () => {
    const file = path.join(tmp(), 'q.sock');
    const notices: string[] = [];
    const out = new Collect();
    const run = logread({ socket: file, json: true, retry: true, retryMinDelay: 5, retryMaxDelay: 20, notice: (m) => notices.push(m) }, out);
    while (notices.length === 0) await new Promise((r) => setTimeout(r, 5));
    expect(notices[0]).toMatch(/cannot connect to memlogd at .*: ENOENT .*; retrying/);
    const srv = await fakeServer(({ sock }) => sock.end([start(), e(1, 'a', 'x'), '{"type":"end","next":2}', ''].join('\n')), file);
    await run;
    expect(JSON.parse(out.text).msg).toBe('x');
    srv.close();
  });

  it('--cursor-file: resumes after the saved cursor, saves the last entry printed, and a gap end', async () => {
    const dir = tmp();
    const cf = path.join(dir, 'cursor');
    fs.writeFileSync(cf, 'aa:4\n');
    const srv = await fakeServer(({ sock }) => sock.end([start(), e(5, 'a', 'x'), '{"type":"gap","from":6,"to":8,"count":3,"reason":"evicted"}',
      '{"type":"end","next":9}', ''].join('\n')));
    await logread({ socket: srv.path, cursorFile: cf, after: 'cc:1' }, new Collect());
    expect(srv.conns[0].request.toString()).toBe('{"mode":"dump","after":"aa:4"}\n'); // the file wins over --after
    expect(fs.readFileSync(cf, 'utf8')).toBe('aa:8\n');
    srv.close();
  });

  it('-f --cursor-file: stopped by its signal, saves where following started (the newest entry) and what it printed', async () => {
    const dir = tmp();
    const cf = path.join(dir, 'cursor');
    let conn: net.Socket | undefined;
    const srv = await fakeServer(({ sock }) => {
      conn = sock;
      sock.write(start('aa', 0, 42) + '\n');
    });
    const stop = new AbortController();
    const out = new Collect();
    const run = logread({ socket: srv.path, follow: true, cursorFile: cf, signal: stop.signal }, out);
    while (!fs.existsSync(cf)) await new Promise((r) => setTimeout(r, 5));
    expect(fs.readFileSync(cf, 'utf8')).toBe('aa:41\n');
    conn!.write(e(42, 'a', 'live') + '\n');
    while (!out.text) await new Promise((r) => setTimeout(r, 5));
    stop.abort();
    await run;
    expect(fs.readFileSync(cf, 'utf8')).toBe('aa:42\n');
    srv.close();
  });

  it('--stats: the table, or with --json the record as received', async () => {
    const rec = '{"type":"stats","instance":"aa","uptime":1,"store":{"lines":1},"sources":[],"readers":[]}';
    const srv = await fakeServer(({ sock }) => sock.end(rec + '\n'));
    let out = new Collect();
    await logread({ socket: srv.path, stats: true, json: true }, out);
    expect(out.text).toBe(rec + '\n');
    expect(srv.conns[0].request.toString()).toBe('{"mode":"stats"}\n');
    out = new Collect();
    await logread({ socket: srv.path, stats: true }, out);
    expect(out.text).toMatch(/^memlogd aa, up 1s\n/);
    srv.close();
  });

  it('ends quietly when the output goes away', async () => {
    const srv = await fakeServer(({ sock }) => sock.write(start() + '\n' + e(1, 'a', 'x') + '\n'));
    const out = new Writable({
      write(_c, _e, cb) {
        cb();
        this.destroy();
      },
    });
    await logread({ socket: srv.path, follow: true, json: true }, out);
    srv.close();
  });
});
