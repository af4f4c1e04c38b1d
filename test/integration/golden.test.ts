// Golden: the reference sample (../shared/reference) replayed against our daemon, byte for byte
// except the times and the one deliberate fix (a 200-byte line is kept as continuation pieces
// where the reference cut it to 64 bytes and threw the rest away).

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dump, handOff, queryRaw, REFERENCE_INPUTS as INPUTS, ROOT, runBin, startDaemon, waitForEntry, type RunningDaemon } from '../support/helpers.js';

const REF = path.resolve(ROOT, '../shared/reference');
/** The captures live beside the project, never in it: without them these tests skip. */
const HAVE = fs.existsSync(path.join(REF, 'query-mode0.ndjson'));
const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,8}[1-9])?Z$/;
const refRows = () => fs.readFileSync(path.join(REF, 'query-mode0.ndjson'), 'utf8').split('\n').filter(Boolean);

/** The reference rows with the deliberate fix applied: the cut long line becomes 4 pieces. */
function expectedRows(): string[] {
  const rows: string[] = [];
  for (const r of refRows()) {
    if (r.includes('"source":"long.out","msg":"LLL')) {
      for (const n of [64, 64, 64, 8]) rows.push(r.replace(/"msg":"L+"/, `"msg":"${'L'.repeat(n)}"`));
    } else rows.push(r);
  }
  return rows;
}
const timeless = (row: string) => row.replace(/^\{"time":"[^"]*"/, '{"time":"T"');

let d: RunningDaemon;
beforeAll(async () => {
  if (!HAVE) return;
  d = await startDaemon(['-max-lines', '50', '-max-line-len', '64']);
  // One input at a time, each in its own pipe and datagram, as the reference capture did.
  let count = 1;
  for (const [name, data] of INPUTS) {
    handOff(d.log, name, data);
    const lines = name === 'long.out' ? 5 : name === 'svc.out' ? 4 : 1;
    count += lines;
    await waitForEntry(d.query, () => true, name).then(async () => {
      for (;;) {
        if ((await dump(d.query)).length >= count) break;
        await new Promise((r) => setTimeout(r, 10));
      }
    });
  }
});
afterAll(async () => {
  await d?.stop();
});

describe.skipIf(!HAVE)(`golden: query mode 0 against the reference capture${HAVE ? '' : ` (no capture in ${REF})`}`, () => {
  it('returns every reference row, same bytes, times aside', async () => {
    const ours = (await queryRaw(d.query, 0)).toString('utf8');
    expect(ours.endsWith('\n')).toBe(true);
    const rows = ours.split('\n').filter(Boolean);
    expect(rows.map(timeless)).toEqual(expectedRows().map(timeless));
  });
  it('formats every time like Go RFC3339Nano in UTC, in order', async () => {
    const rows = (await queryRaw(d.query, 0)).toString('utf8').split('\n').filter(Boolean);
    const times = rows.map((r) => JSON.parse(r).time as string);
    for (const t of times) expect(t).toMatch(TIME);
    const ns = times.map((t) => Date.parse(t));
    expect([...ns].sort((a, b) => a - b)).toEqual(ns);
  });
  it('logread prints the reference text format', async () => {
    const r = await runBin('logread', ['-socket', d.query]);
    expect(r.code).toBe(0);
    const strip = (l: string) => l.replace(/^[^;]*;/, 'T;');
    const ref = fs.readFileSync(path.join(REF, 'logread-dump.txt'), 'utf8').split('\n').filter(Boolean);
    const expected: string[] = [];
    for (const l of ref) {
      if (l.includes(';long.out;LLL')) for (const n of [64, 64, 64, 8]) expected.push(l.replace(/L+$/, 'L'.repeat(n)));
      else expected.push(l);
    }
    expect(r.stdout.split('\n').filter(Boolean).map(strip)).toEqual(expected.map(strip));
  });
});
