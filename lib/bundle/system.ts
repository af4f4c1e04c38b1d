// System facts: kernel, uptime, load, memory, mounts, disk use, network interfaces, processes.
// Files of /proc are copied as they are; commands are run with their command line written above
// their output; the process table is read from /proc.

import fs from 'node:fs/promises';
import { runCommand } from './command.js';
import { commandLine } from './manifest.js';
import { processTable } from './processes.js';
import { Skip, type Task } from './task.js';

// A healthy VM answers each of these in milliseconds; the limit is for the unhealthy one (a df on
// a hung NFS mount, a /proc read behind a stuck process).
const SYSTEM_LIMIT_MS = 10_000;

/** /proc files copied into system/proc/ (name in the archive: the path below /proc). */
export const PROC_FILES = [
  'version', 'cmdline', 'uptime', 'loadavg', 'meminfo', 'cpuinfo', 'stat', 'vmstat', 'self/mounts', 'net/dev',
  'pressure/cpu', 'pressure/memory', 'pressure/io',
];

/** Commands whose output goes into system/ (the names in the archive: `<name>.txt`). */
export const COMMANDS: ReadonlyArray<[name: string, argv: string[]]> = [
  ['uname', ['uname', '-a']],
  ['uptime', ['uptime']],
  ['df', ['df', '-h']],
  ['ip-addr', ['ip', 'addr', 'show']],
  ['ip-route', ['ip', 'route', 'show']],
];

function procFileTask(name: string): Task {
  const file = `/proc/${name}`;
  const path = `system/proc/${name.replace(/^self\//, '')}`;
  const source = { type: 'file' as const, path: file };
  return {
    path, source, limitMs: SYSTEM_LIMIT_MS,
    run: async (signal) => {
      try {
        return [{ path, source, data: await fs.readFile(file, { signal }) }];
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Skip(`${file}: not present on this kernel`);
        throw err;
      }
    },
  };
}

function commandTask(name: string, argv: string[]): Task {
  const path = `system/${name}.txt`;
  const source = { type: 'command' as const, command: commandLine(argv) };
  return {
    path, source, limitMs: SYSTEM_LIMIT_MS,
    run: async (signal) => {
      const r = await runCommand(argv, signal);
      const notes = r.truncated ? ['output over the limit: cut, and the command killed'] : [];
      return [{ path, source, data: r.text, exitCode: r.exitCode, signal: r.signal, truncated: r.truncated, notes }];
    },
  };
}

function processesTask(): Task {
  const path = 'system/processes.txt';
  const source = { type: 'proc' as const, path: '/proc/[pid]/{stat,status,cmdline,fd}' };
  return {
    path, source, limitMs: SYSTEM_LIMIT_MS,
    run: async (signal) => [{ path, source, data: Buffer.from(await processTable(signal)) }],
  };
}

export function systemTasks(): Task[] {
  return [...PROC_FILES.map(procFileTask), ...COMMANDS.map(([n, a]) => commandTask(n, a)), processesTask()];
}
