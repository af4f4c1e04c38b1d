// The host side of `make vm-test` (vm/check.mjs) on reports made here instead of by a VM: a
// complete one passes, and a missing hand-off, a kernel line relayed twice or a VM that never
// reported each fail by name. So the checker is guarded by `make test` too, without QEMU.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../support/cleanup.js';
import { ROOT } from '../support/helpers.js';
// @ts-expect-error plain JavaScript module shared by the guest and the host
import * as S from '../../vm/scenario.mjs';

const { tmpDir } = useCleanups();
const T = '2026-12-02T04:08:25.108799077Z';

interface Report { dump: Array<{ time: string; source: string; msg: string }>; logs: Record<string, { size: number; text: string }>; getty: { lines: string[] } & Record<string, unknown>; [k: string]: unknown }

/** The report a healthy VM sends (vm/guest.mjs), built from the scenario. */
function healthyReport(): Report {
  const sources = [...(S.expectedSources() as Map<string, string[]>)];
  const kmsg = (S.KERNEL_LINES as string[]).map((l, i) => `(${i}) - 2026-12-02T04:08:13.182585Z: info: ${l.trim()} and the rest`);
  const dump = [{ time: T, source: 'memlogd', msg: 'memlogd started' },
    ...sources.flatMap(([source, lines]) => lines.map((msg) => ({ time: T, source, msg }))),
    ...kmsg.map((msg) => ({ time: T, source: S.KMSG_SERVICE as string, msg }))];
  const logs: Report['logs'] = {};
  const write = (source: string, msgs: string[]) => {
    // Rotated as logwrite does: a new file before one would pass the limit, .0 the newest.
    const files: string[] = [''];
    for (const m of msgs) {
      const line = `2026-12-02T04:08:25Z ${source} ${m}\n`;
      if (files[0].length + line.length > S.LOGWRITE_MAX_SIZE) files.unshift('');
      files[0] += line;
    }
    files.forEach((text, i) => (logs[i === 0 ? `${source}.log` : `${source}.log.${i - 1}`] = { size: text.length, text }));
  };
  for (const [source, lines] of sources) write(source, lines);
  write(S.KMSG_SERVICE, kmsg);
  return {
    marks: { arrived: 28.7 }, onboot: Object.fromEntries((S.ONBOOT as Array<{ name: string }>).map((c) => [c.name, { code: 0, signal: null }])),
    services: {}, errors: [], waitTimedOut: false, bootWall: Date.parse(T) / 1000 - 30, dump, logs,
    getty: { code: null, signal: 'SIGTERM', sawLastLine: true, stderr: '', lines: dump.map((e) => `${e.time};${e.source};${e.msg}`) },
    logger: { code: 0, signal: null, stderr: '' },
    severities: [
      { source: `syslog.${S.SYSLOG_TAG}`, severity: 3, facility: 3, msg: S.SYSLOG_LINE },
      ...kmsg.map((msg) => ({ source: S.KMSG_SERVICE, severity: msg.includes('Linux version') ? 5 : 6, facility: 0, msg })),
    ],
  };
}

function check(report: Report | null) {
  const out = tmpDir();
  fs.writeFileSync(path.join(out, 'console.log'), '  4728 vm-mark init 3.17\n 33914 [   32.350685] reboot: Power down\n');
  fs.writeFileSync(path.join(out, 'results.txt'),
    report ? `vm-report ${zlib.gzipSync(JSON.stringify(report)).toString('base64')}\nvm-exit 0\n` : '');
  const r = spawnSync(process.execPath, [path.join(ROOT, 'vm/check.mjs'), out], { encoding: 'utf8' });
  const failures = r.stdout.split('\n').filter((l) => l.startsWith('FAIL') && !l.includes('bundle'));
  return { code: r.status, stdout: r.stdout, failures };
}

describe('vm/check.mjs', () => {
  it('passes a complete report (bundle checks aside, which need a real logbundle)', () => {
    const r = check(healthyReport());
    expect(r.failures, r.stdout).toEqual([]);
    expect(r.stdout).toMatch(/first kernel line in memlogd at 30\.0 s uptime/);
    expect(r.stdout.trim().split('\n').at(-1)).toMatch(/^vm-test: \d+ passed, \d+ failed$/);
  });

  it('fails by name when one hand-off is missing (web.out nowhere)', () => {
    const rep = healthyReport();
    rep.dump = rep.dump.filter((e) => e.source !== 'web.out');
    rep.getty.lines = rep.getty.lines.filter((l) => !l.includes(';web.out;'));
    for (const f of Object.keys(rep.logs)) if (f.startsWith('web.out.log')) delete rep.logs[f];
    const r = check(rep);
    expect(r.code).toBe(1);
    expect(r.failures).toEqual([
      'FAIL memlogd holds web.out: 12 lines in order',
      "FAIL logwrite's web.out.log* hold its 12 lines once, in order",
      'FAIL /proc/1/root/usr/bin/logread -F from another mount namespace and root printed every line',
    ]);
    expect(r.stdout).toMatch(/--- last 60 lines of the console/);
  });

  it('fails when a line arrives under another source, or a kernel line twice', () => {
    const rep = healthyReport();
    rep.dump.find((e) => e.source === 'web')!.source = 'web.out';
    rep.dump.push({ ...rep.dump.find((e) => e.msg.includes('Run /init'))! });
    const r = check(rep);
    expect(r.code).toBe(1);
    expect(r.failures).toEqual(expect.arrayContaining([
      'FAIL no demo line under another source',
      'FAIL kernel line "Run /init as init process" once in memlogd (kmsg) and once in kmsg.log*',
    ]));
  });

  it('fails by name when the syslog message lost its priority, or the kernel banner its level', () => {
    const rep = healthyReport();
    const sev = rep.severities as Array<{ source: string; severity: number; facility?: number; msg: string }>;
    sev[0].severity = 5;
    sev[0].facility = 1;
    delete sev.find((e) => e.msg.includes('Linux version'))!.facility;
    const r = check(rep);
    expect(r.code).toBe(1);
    expect(r.failures).toEqual([
      `FAIL memlogd holds the logger's message as source syslog.${S.SYSLOG_TAG}, daemon.err`,
      "FAIL the kernel banner arrives as kern.notice (kmsg's <N>, taken off by memlogd)",
    ]);
  });

  it('fails, with the console, when the VM never reported', () => {
    const r = check(null);
    expect(r.code).toBe(1);
    expect(r.failures[0]).toMatch(/^FAIL the VM reported and powered off/);
    expect(r.stdout).toMatch(/reboot: Power down/);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('vm-test: 0 passed, 1 failed');
  });
});
