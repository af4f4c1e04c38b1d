// Bench follower (its own process): reads memlogd's query socket in dump+follow mode, counts
// every bench line, checks per-source order, counts gap records, measures end-to-end latency
// of lines that carry a send time. Prints one JSON result line when all lines are accounted for;
// `sourceMismatches` counts the sources for which lines received plus lines the gaps said were
// theirs is not what was written (a daemon that loses lines silently, or misattributes them).
// argv: <query socket> <total lines> <sources> <line size> [timed]

import net from 'node:net';
import { MODE_DUMP_FOLLOW, SELF_SOURCE } from '../lib/protocol/constants.js';
import { gapCountV1, gapSourcesV1 } from '../lib/protocol/gap.js';
import { parseEntry } from '../lib/protocol/v1.js';
import { benchSource, NS_AT, SEQ_AT, SRC_AT } from './line-format.js';

const [sock, totalArg, sourcesArg, sizeArg, timedArg] = process.argv.slice(2);
/** Lines carry send times (the fixed-rate latency scenario). */
const timed = timedArg === 'timed';
/** Bench messages have a fixed length, so the message starts a known distance before `"}`. */
const msgLen = Number(sizeArg) - 1;
const total = Number(totalArg);
const expected = new Float64Array(Number(sourcesArg));
/** Per source: lines received, and lines gap records attributed to it. */
const receivedBy = new Float64Array(Number(sourcesArg));
const missedBy = new Float64Array(Number(sourcesArg));
const indexOf = new Map(Array.from({ length: Number(sourcesArg) }, (_, i) => [benchSource(i), i]));
const latencies: number[] = [];
let received = 0;
let missed = 0;
let gaps = 0;
let orderErrors = 0;
let skipped = 0;
let lastAt = 0n;
let rest: Buffer | null = null;

function num(buf: Buffer, at: number, width: number): number {
  let v = 0;
  for (let i = at; i < at + width; i++) v = v * 10 + (buf[i] - 48);
  return v;
}

function onLine(buf: Buffer, start: number, end: number, now: bigint): void {
  let msg = end - 2 - msgLen; // entry ends with `"}`
  const c = msg > start ? buf[msg + SRC_AT] : 0;
  // a bench line iff `"msg":"` sits right before a digit at that spot
  if (c < 48 || c > 57 || buf[msg - 1] !== 0x22 || buf[msg - 2] !== 0x3a || buf[msg - 4] !== 0x67) {
    msg = -1;
  }
  if (msg < 0) {
    // not a bench line (rare): memlogd's own entries, and gap records (count what was missed)
    const e = parseEntry(buf.toString('utf8', start, end));
    const n = e.source === SELF_SOURCE ? gapCountV1(e.msg) : null;
    if (n !== null) {
      gaps++;
      missed += n;
      for (const [name, k] of Object.entries(gapSourcesV1(e.msg) ?? {})) {
        const i = indexOf.get(name);
        if (i !== undefined) missedBy[i] += k;
      }
      if (process.env.BENCH_DEBUG) process.stderr.write(`${Number(process.hrtime.bigint() / 1000000n)} received=${received} ${e.msg.slice(0, 120)}\n`);
    }
    return;
  }
  const src = num(buf, msg + SRC_AT, 5);
  const seq = num(buf, msg + SEQ_AT, 10);
  // a jump forward is a gap (reported separately); backwards or repeated is an order error
  if (seq < expected[src]) orderErrors++;
  else skipped += seq - expected[src];
  expected[src] = seq + 1;
  receivedBy[src]++;
  received++;
  // only fixed-rate runs stamp send times; throughput runs skip parsing the 19 digits
  if (timed) latencies.push(Number(now) - num(buf, msg + NS_AT, 19));
}

function finish(): void {
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] / 1e6 : null);
  const perSource = total / expected.length;
  const sourceMismatches = receivedBy.filter((r, i) => r + missedBy[i] !== perSource).length;
  process.stdout.write(JSON.stringify({
    received, missed, gaps, orderErrors, skipped, sourceMismatches, lastAt: lastAt.toString(),
    cpuSec: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
    latencyMs: latencies.length ? { p50: pct(0.5), p99: pct(0.99), max: pct(1) } : null,
  }) + '\n');
  process.exit(0);
}

// Reads go into one large buffer (fewer wakeups than 64 KiB reads): this follower must keep up.
const READ_BUF = Buffer.allocUnsafe(1 << 20);
const c = net.createConnection({
  path: sock,
  onread: {
    buffer: READ_BUF,
    callback: (n: number, b: Uint8Array) => {
      onData((b as Buffer).subarray(0, n));
      return true;
    },
  },
}, () => {
  c.write(Buffer.from([MODE_DUMP_FOLLOW]));
  process.stdout.write('ready\n');
});
let lastData = 0n;
/**
 * A daemon that loses lines without saying so (the reference) never lets received + missed reach
 * the total: once data stops for IDLE_MS after some arrived, what arrived is the result.
 */
const IDLE_MS = 3000;
setInterval(() => {
  if (received > 0 && Number(process.hrtime.bigint() - lastData) / 1e6 > IDLE_MS) finish();
}, 500).unref();
function onData(chunk: Buffer): void {
  const now = process.hrtime.bigint();
  if (process.env.BENCH_DEBUG && lastData > 0n && now - lastData > 20_000_000n) {
    process.stderr.write(`follower: ${(now - lastData) / 1_000_000n} ms without data at received=${received}\n`);
  }
  lastData = now;
  let buf = chunk;
  if (rest) {
    buf = Buffer.concat([rest, chunk]);
    rest = null;
  }
  let pos = 0;
  let nl: number;
  while ((nl = buf.indexOf(10, pos)) !== -1) {
    onLine(buf, pos, nl, now);
    pos = nl + 1;
  }
  if (pos < buf.length) rest = Buffer.from(buf.subarray(pos));
  if (received > 0) lastAt = now;
  if (received + missed >= total) finish();
}
c.on('error', (err) => {
  process.stderr.write(`follower: ${err.message}\n`);
  process.exit(1);
});
c.on('close', () => finish());
