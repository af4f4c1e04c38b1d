// Real syslog servers in the tests (bench/rsyslog.ts starts them): whether they can run here,
// the test PKI, logforward as a process, and what the servers wrote, read back.

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { makeCerts, rsyslogInstalled } from '../../bench/rsyslog.js';
import { shortTmp } from './cleanup.js';
import { startBin, type RunningBin } from './helpers.js';

/** .ci/run sets CI=1: there, a missing server fails the tests instead of skipping them. */
export const UNDER_CI = /^(1|true)$/i.test(process.env.CI ?? '');
export const HAVE_RSYSLOG = rsyslogInstalled();

/**
 * describe() for tests against a real rsyslogd: skipped (and said so) where it is not installed,
 * except under CI, where its absence is a failure.
 */
export function describeRsyslog(name: string, fn: () => void): void {
  if (HAVE_RSYSLOG) describe(name, fn);
  else if (UNDER_CI) {
    describe(name, () => it('needs rsyslog', () => {
      throw new Error('rsyslogd with rsyslog-relp and rsyslog-gnutls is not installed (.ci/run installs them)');
    }));
  } else describe.skip(`${name} (rsyslog is not installed)`, fn);
}

/** The test PKI (bench/rsyslog.ts makeCerts), made once per test file. */
export function useCerts(): { dir: string } {
  const certs = { dir: '' };
  beforeAll(() => {
    certs.dir = path.join(shortTmp(), 'certs');
    makeCerts(certs.dir);
  });
  afterAll(() => {
    if (certs.dir) fs.rmSync(path.dirname(certs.dir), { recursive: true, force: true });
  });
  return certs;
}

export function startLogforward(args: string[], nodeArgs: string[] = []): RunningBin {
  return startBin('logforward', args, nodeArgs);
}

/** One message as rsyslog's `json` template wrote it. */
export interface Received {
  pri: string;
  version: string;
  timestamp: string;
  hostname: string;
  appname: string;
  procid: string;
  msgid: string;
  sd: string;
  msg: string;
  input: string;
}

export function parseJsonLines(lines: string[]): Received[] {
  return lines.map((l) => JSON.parse(l) as Received);
}

/** One message as the `compact` template wrote it: app-name, the seq and instance of its structured data, msg. */
export interface Compact {
  app: string;
  seq: number;
  instance: string;
  msg: string;
}

export function parseCompact(lines: string[]): Compact[] {
  return lines.map((l) => {
    const [app, sd, msg] = l.split('\t');
    return { app, seq: Number(/ seq="(\d+)"/.exec(sd)?.[1] ?? -1), instance: /instance="([^"]*)"/.exec(sd)?.[1] ?? '', msg };
  });
}

/** `sent again N messages` lines: what logforward said it may have sent twice, in total. */
export function resentReported(stderr: string): number {
  let n = 0;
  for (const m of stderr.matchAll(/sent again (\d+) messages? that the server may already have/g)) n += Number(m[1]);
  return n;
}
