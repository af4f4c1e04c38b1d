// Shared helpers for the native binding tests (not a test file itself).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as native from '../../lib/native/index.js';
import { fdCount } from '../../bench/proc.js';
import type { Fds } from './cleanup.js';

/** Absolute path of the built addon, for child-process scripts. */
export const ADDON_PATH = fileURLToPath(new URL('../../build/Release/memlogd_native.node', import.meta.url));

export const FD_CLOEXEC = 1;
export const O_NONBLOCK = fs.constants.O_NONBLOCK;

/** Open fds of this process right now. */
export function openFdCount(): number {
  return fdCount('self');
}

/** A bound receiving dgram socket and a sender connected to it. */
export function dgramPair(dir: string, fds: Fds): { rx: number; tx: number; path: string } {
  const p = path.join(dir, 'rx.sock');
  const rx = fds.add(native.socketDgram());
  native.bind(rx, p);
  const tx = fds.add(native.socketDgram());
  native.connect(tx, p);
  return { rx, tx, path: p };
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** true when it was still running after timeoutMs and we killed it. */
  timedOut: boolean;
}

/** Run an ESM script in a fresh node; ADDON is defined in it as the loaded addon. */
export function runChild(dir: string, body: string, timeoutMs: number, nodeArgs: string[] = []): Promise<ChildResult> {
  const file = path.join(dir, `child-${Math.random().toString(36).slice(2)}.mjs`);
  fs.writeFileSync(
    file,
    `import { createRequire } from 'node:module';\n` +
      `const ADDON = createRequire(import.meta.url)(${JSON.stringify(ADDON_PATH)});\n` +
      body,
  );
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}
