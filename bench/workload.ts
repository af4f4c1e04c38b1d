// The randomized accounting workload (the reliability issue's "exact accounting"): a real memlogd
// on temp sockets, real pipes handed over as init does, real query clients, and one identity
// checked for every reader and every source:
//
//   entries written = entries delivered + entries its gap records said were that source's
//
// where "written" counts what the store holds a line as (a line over -max-line-len is several
// entries, cut where lib/daemon/framing.ts cuts), within the reader's window: everything for a
// reader connected before the first line; what was written after it joined for a late follower;
// for a late dump, everything written before it minus what its start record says was evicted.
//
// Everything is drawn from one seed: memlogd's bounds (a small store, so eviction is constant),
// sources (odd names, one or two pipes each; quiet ones, chatty ones writing bursts, long-line
// writers, \r\n writers), readers (v1 and v2, dump, follow and dump+follow, some with a source
// filter; fast ones, and slow ones that stall for a while, one of them through a whole phase so
// it must fall behind the retention). The run is split into phases; between two, the writers
// pause until memlogd has ingested everything (its stats say so), and late readers join, so
// their windows are known exactly. Timing still varies from run to run: the identity must hold
// whatever the timing.
//
// Graceful restarts (SIGUSR2 hand-over, what `memlogd --restart` asks for) happen at every phase
// boundary (`restarts: 'graceful'`, the default): readers keep their connections and their
// positions, so the identity must hold across them. A memlogd without `--restart` in its --help
// (an older build under test) is simply not restarted.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { handOffPipe } from '../lib/client/handoff.js';
import { connectQuery, readLines, requestLines } from '../lib/client/query.js';
import { requestRestart } from '../lib/client/restart.js';
import { cutPoint } from '../lib/daemon/framing.js';
import { MODE_DUMP, MODE_DUMP_FOLLOW, MODE_FOLLOW, SELF_SOURCE } from '../lib/protocol/constants.js';
import { gapCountV1, gapReasonV1, gapSourcesV1 } from '../lib/protocol/gap.js';
import { compileGlob } from '../lib/protocol/glob.js';
import type { ReceivedStats } from '../lib/protocol/stats.js';
import { streamOf } from '../lib/protocol/v1.js';
import { decodeRecord, encodeRequest, type QueryRequest } from '../lib/protocol/v2.js';
import { accepts, until } from './daemons.js';

export interface WorkloadOptions {
  seed: number;
  /** How much is written: 1 is what `make test` runs (seconds); the soak uses more. */
  scale?: number;
  /** The memlogd under test (default dist/cmd/memlogd.js). */
  memlogd?: string;
  /** Graceful restarts at phase boundaries (default), when this memlogd supports them. */
  restarts?: 'none' | 'graceful';
  /** Progress notes (the soak prints them with --verbose). */
  note?: (line: string) => void;
  /** Give up on a run after this long (a hang is reported as a failure). */
  timeoutMs?: number;
}

export interface ReaderReport {
  name: string;
  /** Entries of the workload's sources in its window, and what it got and was told. */
  expected: number;
  delivered: number;
  missed: number;
  gaps: { evicted: number; lagged: number; restarted: number };
}

export interface WorkloadReport {
  seed: number;
  flags: string[];
  sources: number;
  pipes: number;
  /** Lines written, and the entries the store holds them as. */
  lines: number;
  entries: number;
  readers: ReaderReport[];
  restarts: number;
  /** Every identity or order violation, one line each (empty: the run passed). */
  failures: string[];
  ms: number;
}

// --------------------------------------------------------------------------------------------
// A seeded random generator (xorshift32 behind a splitmix-style scramble of the seed): the same
// seed draws the same workload on every machine.

export class Rng {
  private s: number;
  constructor(seed: number) {
    let z = (seed + 0x9e3779b9) >>> 0;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    this.s = (z ^ (z >>> 16)) >>> 0 || 1;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** A generator of its own (for one pipe), so one stream's draws do not shift another's. */
  fork(): Rng {
    return new Rng(Math.floor(this.next() * 2 ** 32));
  }
}

// --------------------------------------------------------------------------------------------
// The plan: everything drawn from the seed before anything runs.

type SourceKind = 'quiet' | 'chatty' | 'long' | 'mixed';
interface SourcePlan { name: string; pipes: number; kind: SourceKind; crlf: boolean }
type ReaderKind = 'v1-dump' | 'v1-follow' | 'v1-dump+follow' | 'v2-dump' | 'v2-follow' | 'v2-dump+follow';
interface ReaderPlan {
  kind: ReaderKind;
  /** v2 filters (only sources, exclude, stream: what the accounting can follow exactly). */
  filter?: Pick<QueryRequest, 'sources' | 'exclude' | 'stream'>;
  /** Stalls: [run ms, stall ms] pairs repeated; 'phase' stalls through the first phase. */
  stalls: Array<[number, number]> | 'phase' | null;
}

/** Names that test quoting and parsing everywhere: JSON specials, separators, prototype keys. */
const NAMES = ['web.out', 'web', 'db.out', 'a "quoted" name', 'semi;colon', 'ünïcödé', '__proto__', '1', 'comma, space', 'back\\slash.out', ''];

interface Plan {
  maxLines: number;
  maxBytes: number;
  maxLineLen: number;
  sources: SourcePlan[];
  phases: number;
  /** Per pipe (sources in order, then their pipes), per phase: bursts (pause before, lines). */
  bursts: Array<Array<Array<{ pauseMs: number; lines: number }>>>;
  readers: ReaderPlan[];
  /** Readers joining after each phase but the last. */
  late: ReaderPlan[][];
}

function plan(seed: number, scale: number): Plan {
  const r = new Rng(seed);
  const maxLineLen = r.pick([64, 100, 256, 1024]);
  const maxLines = r.pick([50, 200, 1000, 3000]);
  const maxBytes = Math.max(maxLineLen * 4, r.pick([16, 64, 256]) * 1024);
  const nSources = r.int(3, Math.min(24, 6 + 4 * scale));
  const sources: SourcePlan[] = [];
  for (let i = 0; i < nSources; i++) {
    const name = i < NAMES.length ? NAMES[i] : `svc${i}${r.chance(0.5) ? '.out' : ''}`;
    sources.push({ name, pipes: r.chance(0.25) ? 2 : 1, kind: r.pick(['quiet', 'chatty', 'chatty', 'long', 'mixed'] as const), crlf: r.chance(0.2) });
  }
  // at least one chatty and one long-line source, so every run has pressure of both kinds
  sources[0].kind = 'chatty';
  sources[1].kind = 'long';
  const phases = r.int(2, 3);
  const bursts: Plan['bursts'] = [];
  for (const s of sources) {
    for (let p = 0; p < s.pipes; p++) {
      const perPhase: Array<Array<{ pauseMs: number; lines: number }>> = [];
      for (let ph = 0; ph < phases; ph++) {
        const n = s.kind === 'quiet' ? r.int(1, 4) : r.int(2, 4 + 2 * scale);
        perPhase.push(Array.from({ length: n }, () => ({
          pauseMs: r.int(0, 60),
          lines: s.kind === 'quiet' ? r.int(1, 3) : s.kind === 'long' ? r.int(2, 20 * scale) : r.int(100, 2500 * scale),
        })));
      }
      bursts.push(perPhase);
    }
  }
  const filters: Array<ReaderPlan['filter']> = [{ sources: ['svc*', 'web*'] }, { exclude: ['web*', 'db*'] }, { stream: 'stdout' }, { stream: 'stderr' }];
  const reader = (kinds: ReaderKind[]): ReaderPlan => {
    const kind = r.pick(kinds);
    const stalls = r.chance(0.4) ? Array.from({ length: 6 }, (): [number, number] => [r.int(20, 400), r.int(100, 1500)]) : null;
    return { kind, filter: kind.startsWith('v2') && r.chance(0.3) ? r.pick(filters) : undefined, stalls };
  };
  const readers = Array.from({ length: r.int(4, 7) }, () => reader(['v1-follow', 'v1-dump+follow', 'v2-follow', 'v2-dump+follow']));
  // one follower stalls through the whole first phase: it must fall behind what memlogd retains
  readers.push({ kind: r.pick(['v1-dump+follow', 'v2-dump+follow'] as const), stalls: 'phase' });
  const late = Array.from({ length: phases - 1 }, () => [
    { kind: 'v2-dump' as const, stalls: null },
    { kind: 'v1-dump' as const, stalls: null },
    ...Array.from({ length: r.int(1, 3) }, () => reader(['v1-follow', 'v2-follow', 'v2-dump+follow', 'v2-dump'])),
  ]);
  return { maxLines, maxBytes, maxLineLen, sources, phases, bursts, readers, late };
}

// --------------------------------------------------------------------------------------------
// Lines: `<source>.<pipe>#<n>:` then filler, long ones several pieces. The filler is cut from a
// pool of random text (mostly plain, some characters JSON escapes, some multi-byte UTF-8, so cuts
// back off) at a random place, ending on a character boundary. What the store will hold each line
// as is computed with the cut rule of the framer, on the line alone (a cut never looks past the
// line's own bytes).

const PLAIN = 'abcdefghijklmnopqrstuvwxyz0123456789 -_=';
const SPECIAL = ['"', '\\', '<', '>', '&', '\t', 'é', '€', '😀'];

/** A pool of filler bytes, valid UTF-8. */
function fillerPool(r: Rng, bytes = 1 << 16): Buffer {
  const parts: string[] = [];
  for (let n = 0; n < bytes; n++) parts.push(r.chance(0.02) ? r.pick(SPECIAL) : PLAIN[r.int(0, PLAIN.length - 1)]);
  return Buffer.from(parts.join(''));
}

function makeLine(r: Rng, pool: Buffer, tag: string, kind: SourceKind, maxLineLen: number): Buffer {
  const k = kind === 'mixed' ? r.pick(['quiet', 'chatty', 'long'] as const) : kind;
  const len = k === 'long' ? r.int(maxLineLen - 2, maxLineLen * 6) : k === 'chatty' ? r.int(0, 40) : r.int(0, 120);
  const head = Buffer.from(tag);
  const want = Math.max(0, Math.min(len - head.length, pool.length - 8));
  let from = r.int(0, pool.length - want - 4);
  while ((pool[from] & 0xc0) === 0x80) from++; // start on a character
  let to = from + want;
  while (to < pool.length && (pool[to] & 0xc0) === 0x80) to--; // and end before one
  return Buffer.concat([head, pool.subarray(from, Math.max(from, to))]);
}

/** The entries a line (without its terminator) is stored as, and the first one's text. */
function pieces(line: Buffer, maxLineLen: number): { n: number; first: string } {
  let start = 0;
  let n = 1;
  let first = -1;
  while (line.length - start > maxLineLen) {
    const cut = cutPoint(line, start, maxLineLen);
    if (first < 0) first = cut;
    start = cut;
    n++;
  }
  return { n, first: line.toString('utf8', 0, first < 0 ? line.length : first) };
}

// --------------------------------------------------------------------------------------------
// What was written, per source, and per pipe line by line (for order and content checks).

interface Written {
  /** Entries per source name, in total. */
  bySource: Map<string, number>;
  /** Per pipe tag: each line's first piece (what a reader sees first), in order. */
  lines: Map<string, string[]>;
}

const countOf = (m: Map<string, number>, k: string) => m.get(k) ?? 0;
const addTo = (m: Map<string, number>, k: string, n: number) => m.set(k, countOf(m, k) + n);

// --------------------------------------------------------------------------------------------
// A query client of the workload: counts what it gets per source, checks order, notes gaps.

class Client {
  readonly name: string;
  readonly delivered = new Map<string, number>();
  readonly missed = new Map<string, number>();
  readonly gaps = { evicted: 0, lagged: 0, restarted: 0 };
  readonly failures: string[] = [];
  /** The window: per source, entries it should account for (set when it is known). */
  expected: Map<string, number> | null = null;
  /** v2: where its window starts and, for a dump, ends (from start/end records). */
  start: { oldest: number; next: number; evicted: Record<string, number> } | null = null;
  closed = false;
  private sock: net.Socket | null = null;
  private lastSeq = -1;
  /** v2 unfiltered: every number of its window is an entry or inside a gap, once, in order. */
  private covered = -1;
  /** Per pipe tag: the index of the last line whose first piece arrived. */
  private lastLine = new Map<string, number>();
  private stallTimer: NodeJS.Timeout | null = null;
  lastData = Date.now();

  constructor(readonly plan: ReaderPlan, readonly index: number, readonly joinedAt: string, private readonly written: Written,
    private readonly wants: (source: string) => boolean) {
    const f = plan.filter ? ` ${JSON.stringify(plan.filter)}` : '';
    const s = plan.stalls === 'phase' ? ' stalled through phase 1' : plan.stalls ? ' slow' : '';
    this.name = `#${index} ${plan.kind}${f}${s} (${joinedAt})`;
  }

  get v2(): boolean {
    return this.plan.kind.startsWith('v2');
  }

  get isDump(): boolean {
    return this.plan.kind.endsWith('-dump');
  }

  async connect(socket: string): Promise<void> {
    const mode = this.plan.kind.slice(3);
    const request = this.v2
      ? encodeRequest({ mode: mode as QueryRequest['mode'], ...this.plan.filter })
      : mode === 'dump' ? MODE_DUMP : mode === 'follow' ? MODE_FOLLOW : MODE_DUMP_FOLLOW;
    const sock = (this.sock = await connectQuery(socket, request));
    void readLines(sock, (lines) => {
      this.lastData = Date.now();
      for (const l of lines) if (l) this.record(l);
    }, this.v2).catch((err: Error) => this.failures.push(`${this.name}: connection failed: ${err.message}`))
      .finally(() => (this.closed = true));
  }

  /** Stalls as planned: stops reading (memlogd's send buffer fills, then it falls behind). */
  startStalls(): void {
    const st = this.plan.stalls;
    if (st === 'phase') this.pause();
    if (!Array.isArray(st)) return;
    let i = 0;
    const step = () => {
      const [run, stall] = st[i++ % st.length];
      this.stallTimer = setTimeout(() => {
        this.pause();
        this.stallTimer = setTimeout(() => {
          this.resume();
          step();
        }, stall);
      }, run);
    };
    step();
  }

  pause(): void {
    this.sock?.pause();
  }

  resume(): void {
    this.sock?.resume();
  }

  /** No more stalls: read everything from now on. */
  unstall(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    this.resume();
  }

  close(): void {
    this.unstall();
    this.sock?.destroy();
  }

  /** Entries of the workload's sources accounted for so far (delivered or reported missed). */
  get accounted(): number {
    let n = 0;
    for (const [s, k] of this.delivered) if (this.written.bySource.has(s)) n += k;
    for (const [s, k] of this.missed) if (this.written.bySource.has(s)) n += k;
    return n;
  }

  private fail(msg: string): void {
    if (this.failures.length < 20) this.failures.push(`${this.name}: ${msg}`);
  }

  private record(line: string): void {
    if (!this.v2) {
      let e: { source: string; msg: string };
      try {
        e = JSON.parse(line);
      } catch {
        return this.fail(`not JSON: ${line.slice(0, 80)}`);
      }
      const n = e.source === SELF_SOURCE ? gapCountV1(e.msg) : null;
      if (n === null) return this.entry(e.source, e.msg);
      this.gaps[gapReasonV1(e.msg)!]++;
      const by = gapSourcesV1(e.msg);
      if (by === null) return this.fail(`gap without a per-source breakdown: ${e.msg.slice(0, 200)}`);
      this.gapSources(by, n, e.msg);
      return;
    }
    let r: ReturnType<typeof decodeRecord>;
    try {
      r = decodeRecord(line);
    } catch {
      return this.fail(`not a record: ${line.slice(0, 80)}`);
    }
    switch (r.type) {
      case undefined:
        if (r.seq <= this.lastSeq) this.fail(`seq ${r.seq} after ${this.lastSeq}`);
        this.lastSeq = r.seq;
        this.cover(r.seq, r.seq, 1);
        return this.entry(r.source, r.msg);
      case 'start':
        this.start = { oldest: r.oldest, next: r.next, evicted: r.evicted ?? {} };
        if (r.oldest > 0 && r.evicted === undefined) this.fail(`start record without whose the ${r.oldest} evicted entries were`);
        this.covered = (this.plan.kind === 'v2-follow' ? r.next : r.oldest) - 1;
        return;
      case 'gap':
        this.gaps[r.reason]++;
        if (r.from <= this.lastSeq) this.fail(`gap ${r.from}-${r.to} after seq ${this.lastSeq}`);
        this.lastSeq = r.to;
        this.cover(r.from, r.to, r.count);
        if (r.sources === undefined) return this.fail(`gap without a per-source breakdown: ${line.slice(0, 200)}`);
        return this.gapSources(r.sources, r.count, line);
      case 'end':
        if (!this.plan.filter && this.covered !== r.next - 1) this.fail(`dump ended at ${r.next} but covered only up to ${this.covered}`);
        return;
      case 'error':
        return this.fail(`error record: ${r.code} ${r.message}`);
      default:
    }
  }

  /** v2 without a filter: [from, to] must follow what was covered so far, and a gap cover all of it. */
  private cover(from: number, to: number, count: number): void {
    if (this.plan.filter || !this.v2) return;
    if (from !== this.covered + 1) this.fail(`${from}-${to} does not follow ${this.covered} (a hole nobody reported, or an overlap)`);
    if (count !== to - from + 1) this.fail(`gap ${from}-${to} counts ${count}`);
    this.covered = to;
  }

  private gapSources(by: Record<string, number>, count: number, what: string): void {
    let sum = 0;
    for (const [s, k] of Object.entries(by)) {
      sum += k;
      addTo(this.missed, s, k);
      if (!this.wants(s)) this.fail(`gap names ${JSON.stringify(s)}, which it did not ask for: ${what.slice(0, 200)}`);
    }
    if (sum !== count) this.fail(`gap breakdown adds up to ${sum}, not ${count}: ${what.slice(0, 200)}`);
  }

  private entry(source: string, msg: string): void {
    addTo(this.delivered, source, 1);
    if (!this.written.bySource.has(source)) return; // memlogd's own entries
    if (!this.wants(source)) this.fail(`entry of ${JSON.stringify(source)}, which it did not ask for`);
    // the first piece of a line carries `<source>.<pipe>#<n>:`: in order, once, intact
    const m = /^(\d+\.\d+)#(\d+):/.exec(msg);
    if (!m) return;
    const lines = this.written.lines.get(m[1]);
    const n = Number(m[2]);
    if (!lines || lines[n] !== msg) return this.fail(`entry ${JSON.stringify(msg.slice(0, 60))} is not a line that was written`);
    const last = this.lastLine.get(m[1]) ?? -1;
    if (n <= last) this.fail(`line ${m[1]}#${n} after #${last} (out of order or twice)`);
    this.lastLine.set(m[1], n);
  }

  /** The identity, source by source; returns the report. */
  check(): ReaderReport {
    const exp = this.expected;
    let expected = 0;
    let delivered = 0;
    let missed = 0;
    if (!exp) this.fail('its window was never known');
    for (const s of this.written.bySource.keys()) {
      const e = exp ? countOf(exp, s) : 0;
      const d = countOf(this.delivered, s);
      const m = countOf(this.missed, s);
      expected += e;
      delivered += d;
      missed += m;
      if (exp && e !== d + m) this.fail(`source ${JSON.stringify(s)}: ${e} written in its window, ${d} delivered + ${m} reported missed = ${d + m}`);
    }
    return { name: this.name, expected, delivered, missed, gaps: { ...this.gaps } };
  }
}

// --------------------------------------------------------------------------------------------
// The run.

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** memlogd's stats record. */
async function stats(socket: string): Promise<ReceivedStats> {
  let rec: ReceivedStats | null = null;
  for (const l of await requestLines(socket, { mode: 'stats' })) if (l) rec = decodeRecord(l) as ReceivedStats;
  if (!rec) throw new Error('memlogd sent no stats');
  return rec;
}

/** SIGTERM to a process that is not our child; resolves once it is gone (or after 20 s). */
async function stopPid(pid: number): Promise<void> {
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 400 && alive(); i++) await sleep(50);
}

/** The project's top folder, whether this runs built (dist/bench) or as source (tests). */
function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}

/** Does this memlogd hand over to a successor on SIGUSR2 (`--restart` in its --help)? */
function supportsGracefulRestart(script: string): boolean {
  const r = spawnSync(process.execPath, [script, '--help'], { encoding: 'utf8', timeout: 20_000 });
  return /--restart\b/.test(r.stdout + r.stderr);
}

export async function runWorkload(o: WorkloadOptions): Promise<WorkloadReport> {
  const t0 = Date.now();
  const scale = o.scale ?? 1;
  const note = (m: string) => o.note?.(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${m}`);
  const p = plan(o.seed, scale);
  const script = o.memlogd ?? path.join(projectRoot(), 'dist/cmd/memlogd.js');
  const flags = ['-max-lines', String(p.maxLines), '--max-bytes', String(p.maxBytes), '-max-line-len', String(p.maxLineLen)];
  const dir = fs.mkdtempSync('/tmp/mlw-');
  const logSock = path.join(dir, 'log.sock');
  const query = path.join(dir, 'q.sock');
  const failures: string[] = [];
  const clients: Client[] = [];
  const writers: net.Socket[] = [];
  let proc: ChildProcess | null = null;
  let restarts = 0;
  const graceful = (o.restarts ?? 'graceful') === 'graceful' && supportsGracefulRestart(script);
  if ((o.restarts ?? 'graceful') === 'graceful' && !graceful) note('graceful restarts: this memlogd has no --restart; none made');
  /** The process serving now (a successor after a graceful restart). */
  let serving = -1;
  const written: Written = { bySource: new Map(p.sources.map((s) => [s.name, 0])), lines: new Map() };
  let lines = 0;
  const deadline = t0 + (o.timeoutMs ?? 300_000);
  const wanted = (f: ReaderPlan['filter']) => {
    if (!f) return () => true;
    const inc = f.sources?.map(compileGlob);
    const exc = (f.exclude ?? []).map(compileGlob);
    return (s: string) => (!inc || inc.some((g) => g.matches(s))) && !exc.some((g) => g.matches(s)) && (!f.stream || streamOf(s) === f.stream);
  };
  const snapshot = () => new Map(written.bySource);
  /** Entries per source in [since, now), of the sources a filter passes. */
  const diff = (now: Map<string, number>, since: Map<string, number> | null, evicted: Record<string, number> | null, wants: (s: string) => boolean) => {
    const m = new Map<string, number>();
    for (const [s, n] of now) {
      if (!wants(s)) continue;
      m.set(s, n - (since ? countOf(since, s) : 0) - (evicted && Object.hasOwn(evicted, s) ? evicted[s] : 0));
    }
    return m;
  };

  try {
    proc = spawn(process.execPath, [script, '-socket-log', logSock, '-socket-query', query, ...flags], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr!.on('data', (d) => (stderr += d));
    await until(() => proc!.exitCode !== null || accepts(query), 'memlogd to accept');
    if (proc.exitCode !== null) throw new Error(`memlogd exited ${proc.exitCode}: ${stderr}`);
    serving = proc.pid!;
    const running = () => {
      // after a hand-over the first process may be gone by design: the stats queries tell then
      if (restarts === 0 && proc!.exitCode !== null) throw new Error(`memlogd died (${proc!.exitCode ?? proc!.signalCode}): ${stderr.slice(-500)}`);
      if (Date.now() > deadline) throw new Error('the run took too long');
    };

    // Readers connected before the first line: their window is everything written.
    const connectReader = async (rp: ReaderPlan, when: string) => {
      const c = new Client(rp, clients.length, when, written, wanted(rp.filter));
      clients.push(c);
      const before = (await stats(query)).readers?.length ?? 0;
      await c.connect(query);
      // Its window starts once memlogd made its reader: a v2 reader is told (start record), a
      // v1 dump ends; a v1 follower only shows in the stats.
      if (c.v2) await until(() => c.start !== null || c.closed, `${c.name} to be answered`, 60_000);
      else if (!c.isDump) {
        for (;;) {
          running();
          if (((await stats(query)).readers?.length ?? 0) > before) break;
          await sleep(10);
        }
      }
      return c;
    };
    for (const rp of p.readers) await connectReader(rp, 'from the start'); // window: everything
    for (const c of clients) c.startStalls();

    // Writers: one net.Socket per pipe (non-blocking writes), each with its own generator.
    const pipes: Array<{ sock: net.Socket; rng: Rng; pool: Buffer; tag: string; source: SourcePlan; n: number }> = [];
    const rng = new Rng(o.seed ^ 0x5bd1e995);
    p.sources.forEach((s, si) => {
      for (let k = 0; k < s.pipes; k++) {
        const fd = handOffPipe(logSock, s.name);
        const sock = new net.Socket({ fd, readable: false, writable: true });
        sock.on('error', (err) => failures.push(`writer ${si}.${k}: ${err.message}`));
        writers.push(sock);
        const tag = `${si}.${k}`;
        written.lines.set(tag, []);
        const own = rng.fork();
        pipes.push({ sock, rng: own, pool: fillerPool(own), tag, source: s, n: 0 });
      }
    });

    const ingested = async (what: string) => {
      for (;;) {
        running();
        const st = await stats(query);
        const total = new Map((st.sources ?? []).map((s) => [s.name ?? '', s.totalLines ?? 0]));
        if ([...written.bySource].every(([s, n]) => countOf(total, s) === n)) return;
        if (Date.now() > deadline) throw new Error(`memlogd never ingested everything ${what}`);
        await sleep(20);
      }
    };

    const lateJoined: Array<{ c: Client; at: Map<string, number> }> = [];
    for (let ph = 0; ph < p.phases; ph++) {
      note(`phase ${ph + 1}/${p.phases}`);
      await Promise.all(pipes.map(async (pp, i) => {
        for (const b of p.bursts[i][ph]) {
          if (b.pauseMs) await sleep(b.pauseMs);
          const chunk: Buffer[] = [];
          const eol = Buffer.from(pp.source.crlf ? '\r\n' : '\n');
          for (let k = 0; k < b.lines; k++) {
            const bytes = makeLine(pp.rng, pp.pool, `${pp.tag}#${pp.n++}:`, pp.source.kind, p.maxLineLen);
            const { n, first } = pieces(bytes, p.maxLineLen);
            addTo(written.bySource, pp.source.name, n);
            written.lines.get(pp.tag)!.push(first);
            lines++;
            chunk.push(bytes, eol);
          }
          // a burst is one write; the next waits until the pipe took it
          await new Promise<void>((resolve, reject) => pp.sock.write(Buffer.concat(chunk), (err) => (err ? reject(err) : resolve())));
        }
      }));
      note(`phase ${ph + 1}: written`);
      await ingested(`after phase ${ph + 1}`);
      note(`phase ${ph + 1}: ingested`);
      // the reader that stalled through the first phase reads again
      if (ph === 0) for (const c of clients) if (c.plan.stalls === 'phase') c.resume();
      if (ph === p.phases - 1) break;

      if (graceful) {
        const r = await requestRestart(query);
        note(`graceful restart: pid ${r.from} -> ${r.to}`);
        serving = r.to;
        restarts++;
        await ingested('after a graceful restart');
        // the successor notes the hand-over under source memlogd: let the store settle before
        // late readers take their start records (a v1 dump's window comes from a v2 one's)
        for (let last = -1; ;) {
          const next = (await stats(query)).store?.next ?? -1;
          if (next === last) break;
          last = next;
          await sleep(100);
        }
      }

      // Late readers, in a quiet moment (nothing is being ingested, so the store does not move
      // between their start records): a v2 dump first, whose start record says whose the
      // evicted history was, for the v1 dump that cannot be told.
      const at = snapshot();
      let probe: Client | null = null;
      for (const rp of p.late[ph]) {
        const c = await connectReader(rp, `after phase ${ph + 1}`);
        if (c.isDump) {
          await until(() => c.closed, `${c.name} to end`, 60_000).catch(() => c.failures.push(`${c.name}: the dump never ended`));
          if (c.v2) probe ??= c;
          const evicted = c.v2 ? c.start?.evicted ?? null : probe?.start?.evicted ?? null;
          if (!evicted) c.failures.push(`${c.name}: no start record to know its window by`);
          c.expected = diff(at, null, evicted ?? {}, wanted(rp.filter));
        } else if (c.plan.kind === 'v2-dump+follow') {
          lateJoined.push({ c, at: new Map() }); // window: from the oldest entry held; set below
        } else lateJoined.push({ c, at });
        c.startStalls();
      }
    }

    // The end: every pipe closed, everything ingested, nobody stalls any more; each reader then
    // gets what is left. A reader whose count never reaches its window is left to the check.
    for (const w of writers) w.end();
    await ingested('at the end');
    note('everything ingested; readers catch up');
    const final = snapshot();
    for (const c of clients) {
      if (c.expected !== null) continue;
      const late = lateJoined.find((l) => l.c === c);
      const wants = wanted(c.plan.filter);
      if (!late) c.expected = diff(final, null, null, wants);
      else if (c.plan.kind === 'v2-dump+follow') c.expected = diff(final, null, c.start?.evicted ?? {}, wants);
      else c.expected = diff(final, late.at, null, wants);
    }
    for (const c of clients) c.unstall();
    const want = (c: Client) => [...c.expected!.values()].reduce((a, b) => a + b, 0);
    for (;;) {
      running();
      const pending = clients.filter((c) => !c.closed && c.accounted < want(c));
      if (pending.length === 0) break;
      // a reader that stops making progress has lost something without saying so
      if (pending.every((c) => Date.now() - c.lastData > 10_000)) break;
      await sleep(50);
    }
    note('readers done');
    await sleep(100); // anything in flight beyond the count (a duplicate) arrives too
    const readers = clients.map((c) => c.check());
    for (const c of clients) failures.push(...c.failures);
    return {
      seed: o.seed, flags, sources: p.sources.length, pipes: pipes.length, lines,
      entries: [...written.bySource.values()].reduce((a, b) => a + b, 0), readers, restarts, failures, ms: Date.now() - t0,
    };
  } catch (err) {
    failures.push(`run failed: ${(err as Error).message}`);
    for (const c of clients) failures.push(...c.failures);
    return {
      seed: o.seed, flags, sources: p.sources.length, pipes: writers.length, lines,
      entries: [...written.bySource.values()].reduce((a, b) => a + b, 0), readers: [], restarts, failures, ms: Date.now() - t0,
    };
  } finally {
    for (const c of clients) c.close();
    for (const w of writers) w.destroy();
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc!.once('exit', r));
    }
    // a successor after a hand-over is no child of ours: stopped by the pid it serves as
    if (serving > 0 && serving !== proc?.pid) await stopPid(serving);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** One line per run: what it did, and whether the identity held. */
export function summarize(r: WorkloadReport): string {
  const sum = (f: (x: ReaderReport) => number) => r.readers.reduce((a, x) => a + f(x), 0);
  const gaps = (k: keyof ReaderReport['gaps']) => sum((x) => x.gaps[k]);
  const n = (x: number) => x.toLocaleString('en');
  return `seed ${r.seed}: ${r.failures.length ? 'FAIL' : 'ok'} in ${(r.ms / 1000).toFixed(1)} s; memlogd ${r.flags.join(' ')}; `
    + `${r.sources} sources, ${r.pipes} pipes, ${n(r.lines)} lines = ${n(r.entries)} entries; ${r.readers.length} readers: `
    + `${n(sum((x) => x.delivered))} delivered, ${n(sum((x) => x.missed))} missed in ${n(gaps('evicted') + gaps('lagged') + gaps('restarted'))} gaps `
    + `(evicted ${n(gaps('evicted'))}, lagged ${n(gaps('lagged'))}); ${r.restarts} restarts`;
}
