import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  buildRequest, CursorFile, logread, modeOf, needsV2, parseDuration, parseTimeArg, readCursorFile, resumeRequest, retryDelay,
  useColor, writeCursorFile, type LogreadOptions,
} from '../../lib/logread.js';
import { requestLine } from '../../lib/client.js';
import { formatText, gapMessageV1 } from '../../lib/protocol.js';

const NOW = Date.UTC(2026, 10, 21, 6, 0, 0);
const S = '/q.sock';

const tmpDirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync('/tmp/lr-');
  tmpDirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function usage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect((err as { code?: string }).code).toBe('ERR_USAGE');
    return (err as Error).message;
  }
  throw new Error('no usage error');
}

describe('relative and absolute times', () => {
  it('parses durations', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1w')).toBe(7 * 86_400_000);
    for (const bad of ['', '30', 's', '1x', '1h 30m', '-1s', 'h1', '1.h']) expect(parseDuration(bad)).toBeNull();
  });
  it('a duration means now minus that', () => {
    expect(parseTimeArg('30s', NOW)).toBe('2026-11-21T05:59:30Z');
    expect(parseTimeArg('-30s', NOW)).toBe('2026-11-21T05:59:30Z');
    expect(parseTimeArg('10m', NOW)).toBe('2026-11-21T05:50:00Z');
    expect(parseTimeArg('2h', NOW)).toBe('2026-11-21T04:00:00Z');
    expect(parseTimeArg('1d', NOW)).toBe('2026-11-20T06:00:00Z');
    expect(parseTimeArg('1.5s', NOW + 250)).toBe('2026-11-21T05:59:58.75Z');
    expect(parseTimeArg('now', NOW)).toBe('2026-11-21T06:00:00Z');
  });
  it('RFC3339 is taken as is, normalized to UTC', () => {
    expect(parseTimeArg('2026-11-21T05:00:00Z', NOW)).toBe('2026-11-21T05:00:00Z');
    expect(parseTimeArg('2026-11-21T05:00:00.123456789Z', NOW)).toBe('2026-11-21T05:00:00.123456789Z');
    expect(parseTimeArg('2026-11-21T07:00:00+02:00', NOW)).toBe('2026-11-21T05:00:00Z');
  });
  it('anything else is null', () => {
    for (const bad of ['yesterday', '2026-11-21', '2026-11-21T05:00:00', '10', '']) expect(parseTimeArg(bad, NOW)).toBeNull();
  });
});

describe('v1 or v2', () => {
  it('reference flags alone speak v1', () => {
    expect(needsV2({ socket: S })).toBe(false);
    expect(needsV2({ socket: S, follow: true })).toBe(false);
    expect(needsV2({ socket: S, dumpFollow: true, color: false })).toBe(false);
    expect(needsV2({ socket: S, sources: [], exclude: [] })).toBe(false);
  });
  it('every v2 option means v2', () => {
    const v2: Partial<LogreadOptions>[] = [
      { tail: 0 }, { since: '1h' }, { until: '1h' }, { sources: ['a'] }, { exclude: ['a'] }, { stream: 'stdout' }, { grep: 'x' },
      { json: true }, { stats: true }, { after: 'ab:1' }, { cursorFile: '/x' }, { retry: true },
    ];
    for (const o of v2) expect(needsV2({ socket: S, ...o }), JSON.stringify(o)).toBe(true);
  });
});

describe('the v2 request', () => {
  it('maps -F / -f / default to the mode', () => {
    expect(modeOf({ socket: S })).toBe('dump');
    expect(modeOf({ socket: S, follow: true })).toBe('follow');
    expect(modeOf({ socket: S, dumpFollow: true })).toBe('dump+follow');
    expect(modeOf({ socket: S, follow: true, dumpFollow: true })).toBe('dump+follow');
    expect(modeOf({ socket: S, stats: true })).toBe('stats');
  });
  it('carries every field, in the documented order, times resolved', () => {
    const r = buildRequest({
      socket: S, dumpFollow: true, grep: 'timeout|refused', tail: 100, until: '2026-11-21T06:00:00Z', since: '1h',
      stream: 'stderr', exclude: ['web-debug*'], sources: ['web*', 'db'], after: 'b5f1c2d3e4a5b6c7:1041', json: true, retry: true,
    }, NOW);
    expect(requestLine(r).toString()).toBe('{"mode":"dump+follow","after":"b5f1c2d3e4a5b6c7:1041","sources":["web*","db"],'
      + '"exclude":["web-debug*"],"stream":"stderr","since":"2026-11-21T05:00:00Z","until":"2026-11-21T06:00:00Z","tail":100,'
      + '"grep":"timeout|refused"}\n');
  });
  it('has only the mode without filters', () => {
    expect(buildRequest({ socket: S, json: true }, NOW)).toEqual({ mode: 'dump' });
    expect(buildRequest({ socket: S, follow: true, tail: 0 }, NOW)).toEqual({ mode: 'follow', tail: 0 });
    expect(buildRequest({ socket: S, stats: true, json: true, retry: true }, NOW)).toEqual({ mode: 'stats' });
  });
  it('refuses bad values with one clear usage line', () => {
    expect(usage(() => buildRequest({ socket: S, since: 'yesterday' }, NOW))).toMatch(/^--since: "yesterday" is neither an RFC3339 time/);
    expect(usage(() => buildRequest({ socket: S, until: '5' }, NOW))).toMatch(/^--until: /);
    expect(usage(() => buildRequest({ socket: S, stream: 'both' }, NOW))).toBe('--stream must be stdout or stderr, not "both"');
    expect(usage(() => buildRequest({ socket: S, grep: '(' }, NOW))).toMatch(/^--grep: .*regular expression/i);
    expect(usage(() => buildRequest({ socket: S, sources: ['[ab'] }, NOW))).toMatch(/^--source: unclosed \[/);
    expect(usage(() => buildRequest({ socket: S, exclude: ['[ab'] }, NOW))).toMatch(/^--exclude: /);
    expect(usage(() => buildRequest({ socket: S, after: 'nope' }, NOW))).toMatch(/^--after: "nope" is not a cursor/);
    expect(usage(() => buildRequest({ socket: S, tail: -1 }, NOW))).toMatch(/^--tail must be an integer >= 0/);
    expect(usage(() => buildRequest({ socket: S, stats: true, follow: true, sources: ['x'] }, NOW)))
      .toBe('--stats cannot be combined with -f, --source');
  });
  it('a reconnect resumes after the last entry received, without tail', () => {
    const first = buildRequest({ socket: S, follow: true, tail: 5, sources: ['a*'] }, NOW);
    expect(resumeRequest(first, null)).toBe(first);
    expect(resumeRequest(first, { instance: 'ab', seq: 7 })).toEqual({ mode: 'follow', sources: ['a*'], after: 'ab:7' });
    expect(resumeRequest({ mode: 'stats' }, { instance: 'ab', seq: 7 })).toEqual({ mode: 'stats' });
  });
});

describe('retry backoff', () => {
  it('grows exponentially, is capped, and jitters between 50% and 100%', () => {
    expect(retryDelay(0, 100, 5000, () => 1)).toBe(100);
    expect(retryDelay(0, 100, 5000, () => 0)).toBe(50);
    expect(retryDelay(3, 100, 5000, () => 1)).toBe(800);
    expect(retryDelay(10, 100, 5000, () => 1)).toBe(5000);
    expect(retryDelay(1000, 100, 5000, () => 0.5)).toBe(3750);
    for (let i = 0; i < 100; i++) {
      const d = retryDelay(i % 12);
      expect(d).toBeGreaterThanOrEqual(50);
      expect(d).toBeLessThanOrEqual(5000);
    }
  });
});

describe('colors', () => {
  const tty = Object.assign(new Writable(), { isTTY: true });
  const pipe = new Writable();
  it('only on a terminal, unless forced either way', () => {
    expect(useColor(undefined, tty, {})).toBe(true);
    expect(useColor(undefined, pipe, {})).toBe(false);
    expect(useColor(false, tty, {})).toBe(false);
    expect(useColor(true, pipe, {})).toBe(true);
  });
  it('NO_COLOR and TERM=dumb turn them off', () => {
    expect(useColor(undefined, tty, { NO_COLOR: '1' })).toBe(false);
    expect(useColor(undefined, tty, { TERM: 'dumb' })).toBe(false);
  });
});

describe('cursor file', () => {
  it('reads nothing from a missing or empty file, the cursor otherwise', () => {
    const d = tmp();
    expect(readCursorFile(path.join(d, 'none'))).toBeUndefined();
    fs.writeFileSync(path.join(d, 'empty'), '\n');
    expect(readCursorFile(path.join(d, 'empty'))).toBeUndefined();
    fs.writeFileSync(path.join(d, 'c'), 'b5f1c2d3e4a5b6c7:1041\n');
    expect(readCursorFile(path.join(d, 'c'))).toBe('b5f1c2d3e4a5b6c7:1041');
  });
  it('a file that does not hold a cursor is a usage error', () => {
    const d = tmp();
    fs.writeFileSync(path.join(d, 'bad'), 'hello');
    expect(usage(() => readCursorFile(path.join(d, 'bad')))).toMatch(/does not hold a cursor/);
    expect(usage(() => readCursorFile(d))).toMatch(/cannot read/); // a directory
  });
  it('is replaced atomically (temp file + rename), leaving no temp file', () => {
    const d = tmp();
    const f = path.join(d, 'cur');
    writeCursorFile(f, 'ab:1');
    const ino = fs.statSync(f).ino;
    writeCursorFile(f, 'ab:2');
    expect(fs.readFileSync(f, 'utf8')).toBe('ab:2\n');
    expect(fs.statSync(f).ino).not.toBe(ino); // a new file renamed over the old one
    expect(fs.readdirSync(d)).toEqual(['cur']);
  });
  it('throttles writes while running; flush writes the latest', () => {
    const d = tmp();
    const f = path.join(d, 'cur');
    const c = new CursorFile(f, 60_000);
    expect(c.read()).toBeUndefined();
    c.update('ab:1'); // first write: now
    expect(readCursorFile(f)).toBe('ab:1');
    c.update('ab:2');
    c.update('ab:3'); // within the interval: later
    expect(readCursorFile(f)).toBe('ab:1');
    c.flush();
    expect(readCursorFile(f)).toBe('ab:3');
    expect(c.cursor).toBe('ab:3');
    expect(fs.readdirSync(d)).toEqual(['cur']);
  });
  it('a directory that cannot be written is a usage error at start', () => {
    expect(usage(() => new CursorFile('/nonexistent-dir/x/cur').read())).toMatch(/^--cursor-file: cannot write in \/nonexistent-dir\/x: ENOENT/);
  });
  it('remembers a write error', () => {
    const c = new CursorFile('/nonexistent-dir/x/cur', 0);
    c.update('ab:1');
    expect(c.error).not.toBeNull();
  });
});

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
