// Golden: the reference logwrite sample (../shared/reference/logwrite-dir) replayed through our
// daemon and our logwrite with the same flags (-max-log-size 120 -max-log-files 3), compared file
// by file with the times masked. The deliberate differences are computed, not hand-written:
// - rotation happens before a file would exceed its size (the reference writes, then rotates once
//   the file is already over: its files are 124-142 bytes with a 120-byte limit, and it leaves
//   an empty current file behind);
// - the 200-byte line arrives from our memlogd as 4 pieces (-max-line-len 64) and is written
//   joined, whole (the reference cut it to 64 bytes);
// - the empty source name is written to `%empty.log` (the reference wrote the hidden `.log`);
// - logwrite.state exists.

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dump, handOff, REFERENCE_INPUTS as INPUTS, ROOT, shortTmp, startDaemon, waitFor, type RunningDaemon } from '../support/helpers.js';
import { linesOf, startLogwrite, type RunningLogwrite } from '../support/logwrite.js';

const REF = path.resolve(ROOT, '../shared/reference/logwrite-dir');
/** The capture lives beside the project, never in it: without it these tests skip. */
const HAVE = fs.existsSync(REF);
const ROT = Array.from({ length: 20 }, (_, i) => `rotation line ${String(i).padStart(3, '0')}`);

/** What every source said, as messages (what memlogd holds, long line whole). */
const MSGS: Record<string, string[]> = {
  memlogd: ['memlogd started'],
  'svc.out': ['hello', 'second line; with a semicolon', '', 'crlf line'],
  svc: ["html <a href='x'>&</a> and unicode \u00e9\u20ac"],
  bad: ['invalid utf8: \ufffd\ufffd end'],
  'long.out': ['L'.repeat(200), 'next line intact'],
  'semi;colon': ['name contains a semicolon'],
  '': ['empty name'],
  'partial.out': ['no trailing newline'],
  tabs: ['tab\there "quoted" back\\slash ctrl\x01\x1b[31mred'],
  'rot.out': ROT,
};
const MAX_SIZE = 120;
const MAX_FILES = 3;
const T = '2026-11-21T05:40:00Z';
const mask = (text: string) => text.replace(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ /gm, 'T ');

/** Files one source ends up in, given its lines, under a rotation rule. */
function simulate(file: string, lines: string[], rule: 'reference' | 'ours'): Record<string, string> {
  let cur: string | null = null;
  let rotated: string[] = [];
  const rotate = () => {
    rotated = [cur!, ...rotated].slice(0, MAX_FILES);
    cur = '';
  };
  for (const l of lines) {
    const n = Buffer.byteLength(l);
    cur ??= '';
    if (rule === 'ours' && cur.length > 0 && Buffer.byteLength(cur) + n > MAX_SIZE) rotate();
    cur += l;
    if (rule === 'reference' && Buffer.byteLength(cur) > MAX_SIZE) rotate(); // written, then rotated
  }
  const out: Record<string, string> = { [`${file}.log`]: cur ?? '' };
  rotated.forEach((r, i) => (out[`${file}.log.${i}`] = r));
  return out;
}

function expectedDir(rule: 'reference' | 'ours'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [source, msgs] of Object.entries(MSGS)) {
    const ms = rule === 'reference' ? msgs.map((m) => (m.startsWith('LLL') ? m.slice(0, 64) : m)) : msgs;
    const file = source === '' ? (rule === 'reference' ? '' : '%empty') : source;
    // sizes count a real 20-byte time; compared masked
    for (const [n, text] of Object.entries(simulate(file, ms.map((m) => `${T} ${source} ${m}\n`), rule))) out[n] = mask(text);
  }
  return out;
}

const readDir = (dir: string, skip: string[] = []) => Object.fromEntries(fs.readdirSync(dir).filter((n) => !skip.includes(n)).sort()
  .map((n) => [n, mask(fs.readFileSync(path.join(dir, n), 'utf8'))]));

let d: RunningDaemon;
let lw: RunningLogwrite;
let out: string;
let exit: { code: number | null; signal: NodeJS.Signals | null };
beforeAll(async () => {
  if (!HAVE) return;
  d = await startDaemon(['-max-lines', '50', '-max-line-len', '64']);
  out = shortTmp();
  let count = 1;
  for (const [name, data] of INPUTS) {
    handOff(d.log, name, data);
    count += name === 'long.out' ? 5 : name === 'svc.out' ? 4 : 1;
    await waitFor(async () => (await dump(d.query)).length >= count, name);
  }
  // as the reference capture: logwrite starts after the inputs, then 20 more lines arrive
  lw = startLogwrite(['-socket', d.query, '-log-dir', out, '-max-log-size', String(MAX_SIZE), '-max-log-files', String(MAX_FILES)]);
  await waitFor(() => fs.existsSync(path.join(out, 'tabs.log')), 'logwrite to write the inputs');
  handOff(d.log, 'rot.out', ROT.map((l) => l + '\n').join(''));
  await waitFor(() => fs.existsSync(path.join(out, 'rot.out.log')) && linesOf(out, 'rot.out').at(-1)?.endsWith('rotation line 019'), 'the rotation lines');
  exit = await lw.stop();
});
afterAll(async () => {
  await lw?.stop();
  await d?.stop();
  if (out) fs.rmSync(out, { recursive: true, force: true });
});

describe.skipIf(!HAVE)(`golden: logwrite against the reference capture${HAVE ? '' : ` (no capture in ${REF})`}`, () => {
  it('the simulation of the reference rule reproduces the reference directory (the inputs are right)', () => {
    expect(readDir(REF)).toEqual(expectedDir('reference'));
  });

  it('writes the same layout and lines, with rotation before the limit, the long line whole, a visible empty name', () => {
    const ours = readDir(out, ['logwrite.state']);
    expect(ours).toEqual(expectedDir('ours'));
    // spelled out, the deliberate differences
    expect(ours['long.out.log.0']).toBe(`T long.out ${'L'.repeat(200)}\n`);
    expect(ours['%empty.log']).toBe('T  empty name\n');
    expect(ours['.log']).toBeUndefined();
    expect(ours['rot.out.log']).toBe('T rot.out rotation line 018\nT rot.out rotation line 019\n');
    for (const n of Object.keys(ours)) {
      const size = fs.statSync(path.join(out, n)).size;
      if (n !== 'long.out.log.0') expect(size, n).toBeLessThanOrEqual(MAX_SIZE);
    }
    // the reference's rotated files are over the limit
    expect(fs.statSync(path.join(REF, 'rot.out.log.0')).size).toBeGreaterThan(MAX_SIZE);
  });

  it('writes times as RFC3339 seconds, and keeps a state file naming the cursor', () => {
    for (const n of fs.readdirSync(out).filter((x) => x.includes('.log'))) {
      for (const l of fs.readFileSync(path.join(out, n), 'utf8').split('\n').slice(0, -1)) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ /);
    }
    const state = JSON.parse(fs.readFileSync(path.join(out, 'logwrite.state'), 'utf8'));
    expect(state).toMatchObject({ version: 1, instance: expect.stringMatching(/^[0-9a-f]+$/), pending: [] });
    // every entry memlogd holds was consumed: 1 + 12 lines, 3 more long line pieces, 20 lines
    expect(state.seq).toBe(1 + 12 + 3 + 20 - 1); // sequence numbers start at 0
    expect(Object.keys(state.files)).toContain('%empty');
  });

  it('exits 0 on SIGTERM', () => {
    expect(exit).toEqual({ code: 0, signal: null });
    expect(lw.stderr()).toMatch(/connected to memlogd/);
  });
});
