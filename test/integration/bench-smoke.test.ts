// A short run of the real benchmark (npm run bench --smoke): the load generator, memlogd and
// the follower end to end. Asserts only that every line arrived, in order: no timing.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { ROOT, shortTmp } from '../support/helpers.js';

it('bench smoke: every line of every source reaches the follower, in order', () => {
  const out = shortTmp();
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist/bench/run.js'), '--smoke', '--out', out], { encoding: 'utf8', timeout: 120_000 });
  expect(r.status, r.stderr).toBe(0);
  const { results } = JSON.parse(fs.readFileSync(path.join(out, 'smoke.json'), 'utf8'));
  expect(results.length).toBe(2);
  for (const s of results) {
    expect(s.delivered).toBe(1);
    expect(s.missed).toBe(0);
    expect(s.orderErrors).toBe(0);
    expect(s.sourceMismatches).toBe(0);
  }
  expect(r.stdout).toMatch(/\| smoke-1x4000 \|/);
  fs.rmSync(out, { recursive: true, force: true });
});
