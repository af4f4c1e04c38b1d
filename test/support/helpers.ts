// Integration helpers: the built binaries, real sockets under a short temp dir, real pipes.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { processesOf } from '../../bench/daemons.js';
import { handOffPipe } from '../../lib/client/handoff.js';
import * as native from '../../lib/native/index.js';
import { shortTmp } from './cleanup.js';

export { fdCount } from '../../bench/proc.js';
export { shortTmp } from './cleanup.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = (name: string) => path.join(ROOT, 'dist/cmd', `${name}.js`);

export async function waitFor<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 20_000, intervalMs = 20): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function exited(p: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve({ code: p.exitCode, signal: p.signalCode });
  return new Promise((resolve) => p.once('exit', (code, signal) => resolve({ code, signal })));
}

export interface RunningDaemon {
  proc: ChildProcess;
  dir: string;
  log: string;
  query: string;
  stderr: () => string;
  /** SIGTERM, wait for exit, remove the temp dir. */
  stop: () => Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts dist/cmd/memlogd.js on temp sockets; resolves once the query socket answers. */
export async function startDaemon(args: string[] = [], dir = shortTmp()): Promise<RunningDaemon> {
  const log = path.join(dir, 'log.sock');
  const query = path.join(dir, 'q.sock');
  const proc = spawn(process.execPath, [BIN('memlogd'), '-socket-log', log, '-socket-query', query, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  await waitFor(() => err.includes('serving') || proc.exitCode !== null, 'memlogd to start');
  if (proc.exitCode !== null) throw new Error(`memlogd exited ${proc.exitCode}: ${err}`);
  return {
    proc, dir, log, query,
    stderr: () => err,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const r = await exited(proc);
      await stopSuccessors(query);
      fs.rmSync(dir, { recursive: true, force: true });
      return r;
    },
  };
}

/**
 * Stops whatever memlogd still serves `query` once the one a test started is gone: after a
 * graceful restart that is its successor, which is not the test's child and would outlive it.
 */
async function stopSuccessors(query: string): Promise<void> {
  const pids = () => [...processesOf([process.execPath, BIN('memlogd'), '-socket-query', query])];
  const left = pids();
  if (left.length === 0) return;
  const signal = (sig: NodeJS.Signals) => (pid: number) => {
    try {
      process.kill(pid, sig);
    } catch { /* gone meanwhile */ }
  };
  left.forEach(signal('SIGTERM'));
  const gone = await waitFor(() => pids().length === 0, 'a successor to stop', 10_000).catch(() => false);
  if (!gone) pids().forEach(signal('SIGKILL'));
}

/** Hands a fresh pipe to memlogd under name, writes data into it, closes it (what init does). */
export function handOff(logSock: string, name: string | Buffer, data: string | Buffer): void {
  const w = handOffPipe(logSock, name);
  try {
    if (data.length) fs.writeSync(w, typeof data === 'string' ? Buffer.from(data) : data);
  } finally {
    native.close(w);
  }
}

/** Sends a request byte (or bytes) and returns everything until the server closes. */
export function queryRaw(sock: string, request: number | Buffer = 0, timeoutMs = 20_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const c = net.createConnection({ path: sock });
    const chunks: Buffer[] = [];
    const t = setTimeout(() => {
      c.destroy();
      reject(new Error('query did not finish'));
    }, timeoutMs);
    c.on('connect', () => c.write(typeof request === 'number' ? Buffer.from([request]) : request));
    c.on('data', (d) => chunks.push(d));
    c.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    c.on('close', () => {
      clearTimeout(t);
      resolve(Buffer.concat(chunks));
    });
  });
}

export interface Entry {
  time: string;
  source: string;
  msg: string;
}

export async function dump(sock: string): Promise<Entry[]> {
  const text = (await queryRaw(sock, 0)).toString('utf8');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Entry);
}

/** One v2 request (an object, or a raw line); resolves with every record once the server closes. */
export async function v2Request(sock: string, req: object | string): Promise<Array<Record<string, unknown>>> {
  const line = typeof req === 'string' ? req : JSON.stringify(req) + '\n';
  const raw = (await queryRaw(sock, Buffer.from(line))).toString('utf8');
  return raw.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/** A streaming reader of NDJSON entries (modes 1 and 2). */
export class Follow {
  readonly entries: Entry[] = [];
  readonly sock: net.Socket;
  private rest = '';
  closed = false;
  constructor(path: string, mode: number) {
    this.sock = net.createConnection({ path });
    this.sock.on('connect', () => this.sock.write(Buffer.from([mode])));
    this.sock.setEncoding('utf8');
    this.sock.on('data', (d: string) => {
      const text = this.rest + d;
      const lines = text.split('\n');
      this.rest = lines.pop()!;
      for (const l of lines) this.entries.push(JSON.parse(l));
    });
    this.sock.on('close', () => (this.closed = true));
    this.sock.on('error', () => {});
  }
  /** Resolves once the server has this reader registered (the first entry or a short settle). */
  async until(n: number, what = `${n} entries`, timeoutMs = 30_000): Promise<void> {
    await waitFor(() => this.entries.length >= n, what, timeoutMs);
  }
  close(): void {
    this.sock.destroy();
  }
}

/** Waits until memlogd holds an entry matching pred (polling with dumps). */
export async function waitForEntry(sock: string, pred: (e: Entry) => boolean, what: string): Promise<Entry[]> {
  return waitFor(async () => {
    const es = await dump(sock);
    return es.some(pred) ? es : null;
  }, what);
}

export interface RunningBin {
  proc: ChildProcess;
  stderr: () => string;
  /** SIGTERM; resolves with the exit status. */
  stop: () => Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL; resolves once it is gone. */
  kill9: () => Promise<void>;
}

/** Starts a built binary (dist/cmd/<name>.js) with these arguments, its stderr collected. */
export function startBin(name: string, args: string[], nodeArgs: string[] = []): RunningBin {
  const proc = spawn(process.execPath, [...nodeArgs, BIN(name), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  return {
    proc,
    stderr: () => err,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited(proc);
    },
    kill9: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited(proc);
    },
  };
}

/** Waits until a process's stderr contains text. */
export function waitStderr(p: RunningBin, text: string | RegExp, what = String(text), timeoutMs = 30_000): Promise<boolean> {
  return waitFor(() => (typeof text === 'string' ? p.stderr().includes(text) : text.test(p.stderr())), what, timeoutMs);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a built binary to completion. */
export function runBin(name: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}):
  Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN(name), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d) => (stdout += d));
    p.stderr!.on('data', (d) => (stderr += d));
    p.stdin!.end(opts.input ?? '');
    const t = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    p.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The inputs of the reference capture (../shared/reference/README.md), in order: name, bytes. */
export const REFERENCE_INPUTS: Array<[string, Buffer]> = [
  ['svc.out', Buffer.from('hello\nsecond line; with a semicolon\n\ncrlf line\r\n')],
  ['svc', Buffer.from("html <a href='x'>&</a> and unicode \xc3\xa9\xe2\x82\xac\n", 'latin1')],
  ['bad', Buffer.from('invalid utf8: \xff\xfe end\n', 'latin1')],
  ['long.out', Buffer.from('L'.repeat(200) + '\nnext line intact\n')],
  ['semi;colon', Buffer.from('name contains a semicolon\n')],
  ['', Buffer.from('empty name\n')],
  ['partial.out', Buffer.from('no trailing newline')],
  ['tabs', Buffer.from('tab\there "quoted" back\\slash ctrl\x01\x1b[31mred\n', 'latin1')],
];
