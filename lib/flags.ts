// Go-style flags: the reference binaries take `-socket-log PATH` (one dash, long name),
// `-max-lines=50` and `-daemonize=true`; commander wants `--socket-log`. We rewrite exactly the
// known long names, so short options (`-f`, `-F`, `-n`) and everything after `--` stay as they are.

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
