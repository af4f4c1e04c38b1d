// kmsg end to end: recorded kernel logs and the real /dev/kmsg, relayed into a real memlogd.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBootId } from '../../lib/kmsg/state.js';
import { useCleanups } from '../support/cleanup.js';
import { BIN, dump, exited, runBin, startDaemon, v2Request, waitFor, type Entry } from '../support/helpers.js';

const { track, tmpDir } = useCleanups();

/** A recording as `cat /dev/kmsg` prints it. */
const RECORDING = [
  '6,0,1000,-;Linux version 6.1.0 (debian-kernel@lists.debian.org)',
  '3,1,2000,-;ACPI Error: AE_NOT_FOUND',
  ' SUBSYSTEM=acpi',
  ' DEVICE=+acpi:PNP0A08:00',
  '4,2,3000,c;continued line starts',
  '4,3,3001,+;and goes on',
  '6,4,4000,-;caf\\xc3\\xa9 \\xe2\\x82\\xac ok',
  '5,5,5000,-;back\\x5cslash tab\\x09 newline\\x0a esc\\x1b[31m del\\x7f',
  // seq 6-9 were overwritten before they were read
  '7,10,9000,-;after the jump',
  '14,11,9500,-;from userspace, facility user',
].join('\n') + '\n';

const kmsgLines = (es: Entry[]) => es.filter((e) => e.source === 'kmsg').map((e) => e.msg.replace(/^\((\d+)\) - [^ ]+: /, '($1) '));

function run(args: string[]) {
  return runBin('kmsg', args, { timeoutMs: 30_000 });
}

describe('kmsg', () => {
  it('relays a recording into memlogd: one record one line, level, dictionary, escapes, the loss', async () => {
    const d = track(await startDaemon());
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'rec'), RECORDING);
    const r = await run(['--file', path.join(dir, 'rec'), '--socket', d.log, '--state', path.join(dir, 'state')]);
    expect(r.code, r.stderr).toBe(0);
    const lines = await waitFor(async () => {
      const got = kmsgLines(await dump(d.query));
      return got.length >= 9 ? got : null;
    }, 'kmsg lines in memlogd');
    expect(lines).toEqual([
      '(0) info: Linux version 6.1.0 (debian-kernel@lists.debian.org)',
      '(1) err: ACPI Error: AE_NOT_FOUND [SUBSYSTEM=acpi DEVICE=+acpi:PNP0A08:00]',
      '(2) warning: continued line starts',
      '(3) warning: and goes on',
      '(4) info: café € ok',
      '(5) notice: back\\x5cslash tab\\x09 newline\\x0a esc\\x1b[31m del\\x7f',
      '(9) kmsg: lost 4 records (seq 6-9), overwritten by the kernel before they were read',
      '(10) debug: after the jump',
      '(11) info: from userspace, facility user',
    ]);
    // kmsg starts each line with <N>, which memlogd takes off and keeps: the kernel's own records
    // have facility kern, a userspace write to /dev/kmsg says user (14 = 1 * 8 + 6)
    const v2 = (await v2Request(d.query, { mode: 'dump', sources: ['kmsg'] })).filter((x) => x.type === undefined);
    expect(v2.map((x) => [x.severity, x.facility])).toEqual([[6, 0], [3, 0], [4, 0], [4, 0], [6, 0], [5, 0], [4, 0], [7, 0], [6, 1]]);
    const errs = (await v2Request(d.query, { mode: 'dump', sources: ['kmsg'], priority: 3 })).filter((x) => x.type === undefined);
    expect(errs.map((x) => x.msg)).toEqual([expect.stringMatching(/^\(1\) .* err: ACPI Error/)]);
    const warnings = (await v2Request(d.query, { mode: 'dump', sources: ['kmsg'], priority: [4, 5] })).filter((x) => x.type === undefined);
    expect(warnings.map((x) => x.severity)).toEqual([4, 4, 5, 4]);
    // on the wire a priority is a number (logread turns names into numbers)
    expect((await v2Request(d.query, { mode: 'dump', priority: 'err' })).at(-1)).toMatchObject({ type: 'error', code: 'ERR_BAD_REQUEST' });
  });

  it('a restart with the state file relays only what is new; a state from another boot is ignored', async () => {
    const d = track(await startDaemon());
    const dir = tmpDir();
    const state = path.join(dir, 'state');
    const rec = path.join(dir, 'rec');
    const first = RECORDING.split('\n').slice(0, 4).join('\n') + '\n'; // seq 0 and 1
    fs.writeFileSync(rec, first);
    expect((await run(['--file', rec, '--socket', d.log, '--state', state])).code).toBe(0);
    expect(JSON.parse(fs.readFileSync(state, 'utf8'))).toEqual({ bootId: readBootId(), nextSeq: 2 });
    fs.writeFileSync(rec, RECORDING); // the ring now holds more: 0..5, then 10, 11
    expect((await run(['--file', rec, '--socket', d.log, '--state', state])).code).toBe(0);
    const seqs = await waitFor(async () => {
      const got = kmsgLines(await dump(d.query)).map((l) => l.slice(0, l.indexOf(')') + 1));
      return got.length >= 9 ? got : null;
    }, 'both runs in memlogd');
    expect(seqs).toEqual(['(0)', '(1)', '(2)', '(3)', '(4)', '(5)', '(9)', '(10)', '(11)']);

    // the state of another boot: everything is relayed again (its sequence numbers mean nothing now)
    fs.writeFileSync(state, JSON.stringify({ bootId: 'not-this-boot', nextSeq: 11 }));
    const r = await run(['--file', rec, '--state', state]);
    expect(r.code).toBe(0);
    expect(r.stderr.split('\n').filter((l) => /^<\d+>\(\d+\) - /.test(l))).toHaveLength(9);
  });

  it('writes to stderr by default (the LinuxKit way: init hands its stderr to memlogd), <N> first; --no-dict drops the dictionary, --no-level-prefix the <N>', async () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'rec'), RECORDING);
    const r = await run(['--file', path.join(dir, 'rec'), '--no-state', '--no-dict']);
    expect(r.code).toBe(0);
    const line = r.stderr.split('\n').find((l) => l.startsWith('<3>(1) - '))!;
    expect(line).toMatch(/^<3>\(1\) - \d{4}-\d\d-\d\dT[\d:.]+Z: err: ACPI Error: AE_NOT_FOUND$/);
    expect(r.stderr).toContain('<14>(11) - ');
    expect(r.stderr).toContain('<4>(9) - ');
    const plain = await run(['--file', path.join(dir, 'rec'), '--no-state', '-no-level-prefix']);
    expect(plain.stderr.split('\n').filter((l) => /^\(\d+\) - /.test(l))).toHaveLength(9);
  });

  const kmsgUsable = (() => {
    try {
      fs.accessSync('/dev/kmsg', fs.constants.R_OK | fs.constants.W_OK);
      return true;
    } catch {
      return false;
    }
  })();

  it.skipIf(!kmsgUsable)('the real /dev/kmsg: a record written now arrives once, at the time it was written, and not again after a restart', async () => {
    const d = track(await startDaemon());
    const dir = tmpDir();
    const state = path.join(dir, 'state');
    const start = (replay: string) => {
      const p = spawn(process.execPath, [BIN('kmsg'), '--socket', d.log, '--state', state, '--replay', replay], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr!.on('data', (x) => (err += x));
      return { p, err: () => err };
    };
    // the first run skips what the kernel holds already (replay new); it is reading once it saved
    // its position after those records
    const k1 = start('new');
    const marker = `memlogd-kmsg-test-${process.pid}-${Date.now()}`;
    await waitFor(() => fs.existsSync(state), 'the first state write');
    const before = Date.now();
    fs.writeFileSync('/dev/kmsg', `<3>${marker}\n`);
    const after = Date.now();
    const es = await waitForMarker(d.query, marker);
    expect(es, k1.err()).toHaveLength(1);
    const m = /^\((\d+)\) - (\S+): err: (.*)$/.exec(es[0].msg)!;
    expect(m[3]).toBe(marker);
    const t = Date.parse(m[2]);
    // within milliseconds of when it was written (Date.parse keeps milliseconds)
    expect(t).toBeGreaterThanOrEqual(before - 5);
    expect(t).toBeLessThanOrEqual(after + 5);

    // a restart (SIGTERM, then the same state file, the default replay) relays it no second time
    k1.p.kill('SIGTERM');
    expect((await exited(k1.p)).code).toBe(0);
    const k2 = start('auto');
    const marker2 = `${marker}-after-restart`;
    await waitFor(() => k2.err().includes('reading /dev/kmsg') || k2.p.exitCode !== null, 'the second run to read');
    fs.writeFileSync('/dev/kmsg', `<6>${marker2}\n`);
    await waitForMarker(d.query, marker2);
    const all = (await dump(d.query)).filter((e) => e.source === 'kmsg' && e.msg.includes(marker));
    expect(all.map((e) => e.msg.replace(/^.*: /, ''))).toEqual([marker, marker2]);
    k2.p.kill('SIGTERM');
    await exited(k2.p);
  });
});

async function waitForMarker(query: string, marker: string): Promise<Entry[]> {
  return waitFor(async () => {
    const es = (await dump(query)).filter((e) => e.source === 'kmsg' && e.msg.endsWith(marker));
    return es.length > 0 ? es : null;
  }, `${marker} in memlogd`);
}
