// kmsg side by side with the reference on the live /dev/kmsg (needs root): records written at
// known times, the time error of each relay, and the duplicates each adds after a restart.
//
//   node dist/bench/kmsg.js [--reference DIR] [--records N]
//
// The kernel rate-limits writers of /dev/kmsg (about 10 records per 5 s), so records are spaced.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as native from '../lib/native/index.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OURS = path.resolve(HERE, '../cmd/kmsg.js');
const args = process.argv.slice(2);
const opt = (n: string) => (args.includes(n) ? args[args.indexOf(n) + 1] : undefined);
const refDir = opt('--reference') ?? path.resolve(HERE, '../../../shared/reference/bin');
const N = Number(opt('--records') ?? 8);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Relay { name: string; start: () => ChildProcess }

function nowUs(): number {
  const [s, ns] = native.clockGettime(native.CLOCK_REALTIME);
  return s * 1e6 + ns / 1000;
}

/** Parses `... - <RFC3339 time>: ...<marker>` lines: marker -> time in µs (every occurrence). */
function times(text: string, tag: string): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const line of text.split('\n')) {
    const x = /^\(\d+\) - (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z: .*?(kmsg-bench-\S+)$/.exec(line);
    if (!x || !x[3].startsWith(tag)) continue;
    const us = Date.parse(x[1] + 'Z') * 1000 + Number((x[2] ?? '').padEnd(6, '0').slice(0, 6));
    m.set(x[3], [...(m.get(x[3]) ?? []), us]);
  }
  return m;
}

async function main(): Promise<void> {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'kmsg-bench-'));
  const relays: Relay[] = [
    { name: 'ours', start: () => spawn(process.execPath, [OURS, '--state', path.join(state, 'state'), '--replay', 'new'], { stdio: ['ignore', 'ignore', 'pipe'] }) },
  ];
  if (fs.existsSync(path.join(refDir, 'kmsg'))) {
    relays.push({ name: 'reference', start: () => spawn(path.join(refDir, 'kmsg'), [], { stdio: ['ignore', 'ignore', 'pipe'] }) });
  } else process.stderr.write(`no reference kmsg in ${refDir}: measuring ours only\n`);
  const tag = `kmsg-bench-${process.pid}-`;
  const outs = new Map<string, string>();
  const procs = relays.map((r) => {
    const p = r.start();
    outs.set(r.name, '');
    p.stderr!.on('data', (d) => outs.set(r.name, outs.get(r.name)! + d));
    return p;
  });
  await sleep(1500);
  const written = new Map<string, number>();
  for (let i = 0; i < N; i++) {
    const marker = `${tag}${i}`;
    const before = nowUs();
    fs.writeFileSync('/dev/kmsg', `<6>${marker}\n`);
    written.set(marker, (before + nowUs()) / 2);
    await sleep(600); // under the kernel's rate limit
  }
  await sleep(500);
  for (const p of procs) p.kill('SIGTERM');
  await sleep(300);
  // restart each: how many of the markers come again?
  const again = relays.map((r) => {
    const p = r.start();
    let text = '';
    p.stderr!.on('data', (d) => (text += d));
    return { r, p, text: () => text };
  });
  await sleep(2000);
  for (const a of again) a.p.kill('SIGTERM');
  await sleep(300);
  fs.rmSync(state, { recursive: true, force: true });

  console.log(`| relay | records seen | time error mean / max (µs) | duplicates after a restart |`);
  console.log(`|---|---:|---:|---:|`);
  for (const [i, r] of relays.entries()) {
    const seen = times(outs.get(r.name)!, tag);
    const errs = [...written].filter(([m]) => seen.has(m)).map(([m, t]) => Math.abs(seen.get(m)![0] - t));
    const mean = errs.reduce((a, b) => a + b, 0) / (errs.length || 1);
    const dup = times(again[i].text(), tag).size;
    console.log(`| ${r.name} | ${seen.size} / ${N} | ${Math.round(mean).toLocaleString('en-US')} / ${Math.round(Math.max(0, ...errs)).toLocaleString('en-US')} | ${dup} |`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
