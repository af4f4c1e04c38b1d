// Protocol v2 against the real daemon: every request field, gap records for each reason,
// resume by cursor across a restart, filters under a flood, malformed requests, stats.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { formatCursor, type V2Record } from '../../lib/protocol/index.js';
import { dump, handOff, queryRaw, startDaemon, v2Request, waitFor, waitForEntry, type RunningDaemon } from '../support/helpers.js';

let d: RunningDaemon | undefined;
afterEach(async () => {
  await d?.stop();
  d = undefined;
});

type Rec = V2Record & Record<string, unknown>;

const request = (sock: string, req: object | string) => v2Request(sock, req) as Promise<Rec[]>;

/** A streaming v2 reader. */
class Reader {
  readonly records: Rec[] = [];
  readonly sock: net.Socket;
  private rest = '';
  constructor(path: string, req: object) {
    this.sock = net.createConnection({ path }, () => this.sock.write(JSON.stringify(req) + '\n'));
    this.sock.setEncoding('utf8');
    this.sock.on('data', (t: string) => {
      const lines = (this.rest + t).split('\n');
      this.rest = lines.pop()!;
      for (const l of lines) this.records.push(JSON.parse(l));
    });
    this.sock.on('error', () => {});
  }
  get entries(): Rec[] {
    return this.records.filter((r) => r.type === undefined);
  }
  until(pred: (r: Rec[]) => boolean, what: string): Promise<unknown> {
    return waitFor(() => pred(this.records), what);
  }
  close(): void {
    this.sock.destroy();
  }
}

const msgs = (rs: Rec[]) => rs.filter((r) => r.type === undefined).map((r) => r.msg);

async function seed(dd: RunningDaemon): Promise<void> {
  handOff(dd.log, 'web.out', 'GET / 200\nGET /missing 404\n');
  handOff(dd.log, 'web', 'warning: slow upstream\n');
  handOff(dd.log, 'db.out', 'checkpoint done\n');
  handOff(dd.log, 'db', 'ERROR: deadlock detected\n');
  await waitFor(async () => (await dump(dd.query)).length >= 6, 'seed lines');
}

describe('v2 requests', () => {
  it('dump: a start record, entries with seq/stream, an end record', async () => {
    d = await startDaemon();
    await seed(d);
    const rs = await request(d.query, { mode: 'dump' });
    expect(rs[0]).toMatchObject({ type: 'start', oldest: 0 });
    expect(typeof rs[0].instance).toBe('string');
    const entries = rs.filter((r) => r.type === undefined);
    expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i));
    expect(entries.find((e) => e.msg === 'GET / 200')).toMatchObject({ source: 'web.out', stream: 'stdout', severity: 6 });
    expect(entries.find((e) => e.msg === 'warning: slow upstream')).toMatchObject({ source: 'web', stream: 'stderr', severity: 3 });
    expect(rs.at(-1)).toEqual({ type: 'end', next: entries.length });
    // keys in a fixed order, time in Go's form; no facility when the source did not say one
    expect(Object.keys(entries[1])).toEqual(['seq', 'time', 'source', 'stream', 'severity', 'msg']);
  });

  it('filters by source globs, exclude, stream, grep, since/until and tail', async () => {
    d = await startDaemon();
    await seed(d);
    expect(msgs(await request(d.query, { mode: 'dump', sources: ['web*'] }))).toEqual(['GET / 200', 'GET /missing 404', 'warning: slow upstream']);
    expect(msgs(await request(d.query, { mode: 'dump', sources: ['*'], exclude: ['web*', 'memlogd'] }))).toEqual(['checkpoint done', 'ERROR: deadlock detected']);
    expect(msgs(await request(d.query, { mode: 'dump', sources: ['[dw]?'] }))).toEqual(['ERROR: deadlock detected']);
    expect(msgs(await request(d.query, { mode: 'dump', stream: 'stdout' }))).toEqual(['GET / 200', 'GET /missing 404', 'checkpoint done']);
    expect(msgs(await request(d.query, { mode: 'dump', grep: 'error|404' }))).toEqual(['GET /missing 404']);
    expect(msgs(await request(d.query, { mode: 'dump', grep: '(?i)error'.replace('(?i)', '') + '|ERROR' }))).toEqual(['ERROR: deadlock detected']);
    expect(msgs(await request(d.query, { mode: 'dump', tail: 2, exclude: ['memlogd'] }))).toEqual(['checkpoint done', 'ERROR: deadlock detected']);
    expect(msgs(await request(d.query, { mode: 'dump', tail: 0 }))).toEqual([]);
    const future = new Date(Date.now() + 3600_000).toISOString();
    const past = new Date(Date.now() - 3600_000).toISOString();
    expect(msgs(await request(d.query, { mode: 'dump', since: future }))).toEqual([]);
    expect(msgs(await request(d.query, { mode: 'dump', until: past }))).toEqual([]);
    expect(msgs(await request(d.query, { mode: 'dump', since: past, until: future, exclude: ['memlogd'] }))).toHaveLength(5);
  });

  it('follow starts at the newest; after resumes exactly after a cursor', async () => {
    d = await startDaemon();
    await seed(d);
    const first = await request(d.query, { mode: 'dump' });
    const instance = first[0].instance as string;
    const entries = first.filter((r) => r.type === undefined);
    const third = entries[2];
    const after = await request(d.query, { mode: 'dump', after: formatCursor(instance, third.seq as number) });
    expect(msgs(after)).toEqual(msgs(first).slice(3));
    const f = new Reader(d.query, { mode: 'follow' });
    await f.until((r) => r.length >= 1, 'start record');
    handOff(d.log, 'late', 'only this\n');
    await f.until((r) => r.some((x) => x.msg === 'only this'), 'followed line');
    expect(msgs(f.records)).toEqual(['only this']);
    f.close();
  });

  it('until ends a follower with an end record once the time passes', async () => {
    d = await startDaemon();
    const f = new Reader(d.query, { mode: 'follow', until: new Date(Date.now() + 800).toISOString() });
    await f.until((r) => r.some((x) => x.type === 'end'), 'end record');
    await waitFor(() => f.sock.destroyed || f.sock.readableEnded, 'server to close');
  });

  it('reports gaps: evicted (in a dump), lagged (a slow follower)', async () => {
    d = await startDaemon(['-max-lines', '100']);
    const quiet = 'q\n';
    handOff(d.log, 'quiet', quiet);
    let noisy = '';
    for (let i = 0; i < 500; i++) noisy += `n${i}\n`;
    handOff(d.log, 'noisy', noisy);
    await waitForEntry(d.query, (e) => e.msg === 'n499', 'noisy lines');
    const rs = await request(d.query, { mode: 'dump' });
    const gaps = rs.filter((r) => r.type === 'gap');
    expect(gaps.length).toBeGreaterThan(0);
    expect(gaps.every((g) => g.reason === 'evicted')).toBe(true);
    // everything is accounted for: delivered + reported = all sequence numbers
    const delivered = rs.filter((r) => r.type === undefined).length;
    const missed = gaps.reduce((n, g) => n + (g.count as number), 0);
    const start = rs[0] as Rec;
    expect(delivered + missed).toBe((rs.at(-1)!.next as number) - (start.oldest as number));

    // a follower that stops reading past the store's physical room gets a lagged gap
    const f = new Reader(d.query, { mode: 'follow', sources: ['flood'] });
    await f.until((r) => r.length >= 1, 'start');
    f.sock.pause();
    let flood = '';
    for (let i = 0; i < 120_000; i++) flood += `f${i}\n`;
    handOff(d.log, 'flood', flood);
    await waitForEntry(d.query, (e) => e.msg === 'f119999', 'flood stored');
    f.sock.resume();
    await f.until((r) => r.some((x) => x.msg === 'f119999'), 'follower catches up');
    const lag = f.records.filter((r) => r.type === 'gap');
    expect(lag.length).toBeGreaterThan(0);
    expect(lag.every((g) => g.reason === 'lagged')).toBe(true);
    const got = f.entries.length + lag.reduce((n, g) => n + (g.count as number), 0);
    expect(got).toBe(120_000);
    f.close();
  });

  it('a cursor from before a restart resumes with a restarted gap, and no duplicates', async () => {
    d = await startDaemon();
    handOff(d.log, 'app', 'before restart\n');
    await waitForEntry(d.query, (e) => e.msg === 'before restart', 'first line');
    const first = await request(d.query, { mode: 'dump' });
    const last = first.filter((r) => r.type === undefined).at(-1)!;
    const cursor = formatCursor(first[0].instance as string, last.seq as number);
    const dir = d.dir;
    d.proc.kill('SIGTERM');
    await waitFor(() => d!.proc.exitCode !== null, 'daemon exit');
    d = await startDaemon([], dir);
    handOff(d.log, 'app', 'after restart\n');
    await waitForEntry(d.query, (e) => e.msg === 'after restart', 'second line');
    const rs = await request(d.query, { mode: 'dump', after: cursor });
    expect(rs[0].type).toBe('start');
    expect(rs[0].instance).not.toBe(first[0].instance);
    expect(rs[1]).toMatchObject({ type: 'gap', reason: 'restarted', previous: cursor });
    expect(msgs(rs)).toEqual(['memlogd started', 'after restart']);
    // and resuming from the new cursor gives nothing twice
    const again = await request(d.query, { mode: 'dump', after: formatCursor(rs[0].instance as string, rs.filter((r) => r.type === undefined).at(-1)!.seq as number) });
    expect(msgs(again)).toEqual([]);
  });

  it('a follower of a quiet source is not flooded by a noisy one, and sees no gaps from it', async () => {
    d = await startDaemon(['-max-lines', '1000']);
    const f = new Reader(d.query, { mode: 'follow', sources: ['quiet'] });
    await f.until((r) => r.length >= 1, 'start');
    for (let round = 0; round < 5; round++) {
      handOff(d.log, 'quiet', `quiet ${round}\n`);
      let text = '';
      for (let i = 0; i < 20_000; i++) text += `noise ${round}.${i}\n`;
      handOff(d.log, 'noisy', text);
    }
    await f.until((r) => r.filter((x) => x.type === undefined).length >= 5, 'five quiet lines');
    await waitForEntry(d.query, (e) => e.msg === 'noise 4.19999', 'all noise stored');
    expect(msgs(f.records)).toEqual([0, 1, 2, 3, 4].map((i) => `quiet ${i}`));
    expect(f.records.filter((r) => r.type === 'gap')).toEqual([]);
    f.close();
  });

  it('marks continuation pieces of a long line as partial', async () => {
    d = await startDaemon(['-max-line-len', '16']);
    handOff(d.log, 'long', 'x'.repeat(40) + '\n');
    await waitForEntry(d.query, (e) => e.source === 'long', 'long line');
    const es = (await request(d.query, { mode: 'dump', sources: ['long'] })).filter((r) => r.type === undefined);
    expect(es.map((e) => [e.msg, e.partial ?? false])).toEqual([['x'.repeat(16), true], ['x'.repeat(16), true], ['x'.repeat(8), false]]);
  });
});

describe('v2 stats', () => {
  it('reports store, sources (with sender pid/uid) and connected readers', async () => {
    d = await startDaemon(['-max-lines', '50']);
    await seed(d);
    const f = new Reader(d.query, { mode: 'follow', sources: ['web*'] });
    await f.until((r) => r.length >= 1, 'reader connected');
    const [s] = await request(d.query, { mode: 'stats' });
    expect(s.type).toBe('stats');
    expect(s.store).toMatchObject({ lines: 6, maxLines: 50, oldest: 0, next: 6, evicted: 0 });
    const web = (s.sources as Rec[]).find((x) => x.name === 'web.out')!;
    expect(web).toMatchObject({ lines: 2, totalLines: 2, evicted: 0, partial: 0, uid: process.getuid!(), pid: process.pid });
    expect(typeof s.uptime).toBe('number');
    const readers = s.readers as Rec[];
    expect(readers.some((r) => r.mode === 'follow' && r.pid === process.pid && r.lag === 0)).toBe(true);
    f.close();
  });
});

describe('malformed v2 requests', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['not JSON', '{nope\n', /not valid JSON/],
    ['unknown field', '{"mode":"dump","srouces":["x"]}\n', /unknown field "srouces"/],
    ['bad mode', '{"mode":"tail"}\n', /mode must be/],
    ['bad glob', '{"mode":"dump","sources":["[abc"]}\n', /unclosed \[/],
    ['bad regex', '{"mode":"dump","grep":"("}\n', /not a valid regular expression/],
    ['bad time', '{"mode":"dump","since":"yesterday"}\n', /since must be an RFC3339 time/],
    ['bad cursor', '{"mode":"dump","after":"zz"}\n', /after must be a cursor/],
    ['bad tail', '{"mode":"dump","tail":-1}\n', /tail must be an integer/],
  ];
  it('answers each with one error record and closes; the daemon keeps serving', async () => {
    d = await startDaemon();
    for (const [, line, re] of cases) {
      const rs = await request(d.query, line);
      expect(rs).toHaveLength(1);
      expect(rs[0]).toMatchObject({ type: 'error', code: 'ERR_BAD_REQUEST' });
      expect(rs[0].message).toMatch(re);
    }
    const big = await request(d.query, '{"mode":"dump","grep":"' + 'a'.repeat(70_000));
    expect(big).toEqual([expect.objectContaining({ type: 'error', code: 'ERR_REQUEST_TOO_LARGE' })]);
    expect((await dump(d.query)).length).toBeGreaterThan(0);
  });
});
