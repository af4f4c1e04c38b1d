// Go-style flags: the reference binaries take `-socket-log PATH` (one dash, long name),
// `-max-lines=50` and `-daemonize=true`; commander wants `--socket-log`. We rewrite exactly the
// known long names, so short options (`-f`, `-F`, `-n`) and everything after `--` stay as they are.

import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';

/**
 * Rewrites `-name`, `-name=value` to `--name...` for known long names; for boolean names,
 * `=true`/`=1` means set and `=false`/`=0` means leave unset, as Go's flag package reads them.
 */
export function goStyleArgs(argv: string[], longNames: string[], booleans: string[] = []): string[] {
  const known = new Set([...longNames, ...booleans]);
  const bools = new Set(booleans);
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const m = /^--?([a-zA-Z][\w-]+)(=(.*))?$/.exec(a);
    if (m && known.has(m[1])) {
      if (bools.has(m[1]) && m[2] !== undefined) {
        if (/^(true|t|1)$/i.test(m[3])) out.push('--' + m[1]);
        else if (!/^(false|f|0)$/i.test(m[3])) throw new InvalidArgumentError(`invalid boolean value ${JSON.stringify(m[3])} for -${m[1]}`);
        continue;
      }
      out.push('--' + a.replace(/^--?/, ''));
      continue;
    }
    out.push(a);
  }
  return out;
}

/** commander argParser for an integer flag >= min. */
export function intArg(min = 0): (v: string) => number {
  return (v: string) => {
    if (!/^\d+$/.test(v) || Number(v) < min) throw new InvalidArgumentError(`must be an integer >= ${min}`);
    return Number(v);
  };
}

/** commander argParser for a file mode in octal (`660`, `0660`). */
export function octalArg(v: string): number {
  if (!/^0?[0-7]{3,4}$/.test(v)) throw new InvalidArgumentError('must be an octal file mode such as 0660');
  return parseInt(v, 8);
}

/** Looks a name up in an /etc/passwd-style file: the numeric id in field 3, or undefined. */
function idOf(file: string, name: string): number | undefined {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && /^\d+$/.test(f[2] ?? '')) return Number(f[2]);
  }
  return undefined;
}

/** A group given by gid or by name (/etc/group). */
export function groupArg(v: string): number {
  if (/^\d+$/.test(v)) return Number(v);
  const gid = idOf('/etc/group', v);
  if (gid === undefined) throw new InvalidArgumentError(`no such group ${JSON.stringify(v)}`);
  return gid;
}

/** Repeatable list of uids or user names (comma-separated also accepted). */
export function uidListArg(v: string, prev: number[] | undefined): number[] {
  const out = [...(prev ?? [])];
  for (const part of v.split(',').filter(Boolean)) {
    if (/^\d+$/.test(part)) out.push(Number(part));
    else {
      const uid = idOf('/etc/passwd', part);
      if (uid === undefined) throw new InvalidArgumentError(`no such user ${JSON.stringify(part)}`);
      out.push(uid);
    }
  }
  return out;
}

/** commander argParser for a repeatable flag: every value, in order. */
export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** commander argParser from a parser that throws: its message becomes the usage error. */
export function parsedArg<T>(parse: (v: string) => T): (v: string) => T {
  return (v: string): T => {
    try {
      return parse(v);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}
