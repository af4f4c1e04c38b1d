// The v2 `grep` of a reader, compiled so that no pattern can hold memlogd's only thread for
// long. V8's usual engine backtracks: `(a*)*b` on 30 characters took 4 s here, and a request
// could carry one. So memlogd turns on two V8 flags, once, before compiling a pattern:
//
// - `--enable-experimental-regexp-engine`: the `l` flag, V8's linear-time engine (an automaton
//   simulation, time proportional to pattern size x input length). It refuses what it cannot run
//   that way: backreferences, lookaround, large `{n,m}` repetitions, and the `u` and `i` flags.
// - `--enable-experimental-regexp-engine-on-excessive-backtracks`: a pattern the linear engine
//   can run is still executed by the fast backtracking engine, and moves to the linear one only
//   when one match backtracks too much (V8's `--regexp-backtracks-before-fallback`, 50,000).
//   The linear engine alone was ~70x slower on ordinary patterns here (7.5 us instead of
//   0.1 us for `timeout|refused` on a 90-byte line).
//
// A pattern is accepted only if the linear engine can run it, so every match is bounded. What is
// left (a long pattern on a long line is still slow, linearly) is capped by MAX_GREP_CHARS and by
// the reader's time budget (filter.ts).

import v8 from 'node:v8';
import { MAX_GREP_CHARS } from '../protocol/constants.js';
import { ProtocolError } from '../protocol/errors.js';

// Set when this module loads (memlogd loads it at start): V8 decides a pattern's engine and
// backtrack limit when the pattern is compiled, so the flags must be on before any grep is
// compiled, also the one v2.ts's parseRequest checks for syntax. Verified on Node 20: after
// this, `new RegExp('(a*)*b', 'l')` exists and runs in linear time.
v8.setFlagsFromString('--enable-experimental-regexp-engine');
v8.setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

/** The RegExp a reader's grep runs; throws ProtocolError(ERR_BAD_REQUEST) for a pattern refused. */
export function compileGrep(pattern: string): RegExp {
  const bad = (m: string) => new ProtocolError('ERR_BAD_REQUEST', m);
  if (pattern.length > MAX_GREP_CHARS) throw bad(`grep pattern is ${pattern.length} characters long, memlogd accepts at most ${MAX_GREP_CHARS}`);
  let re: RegExp;
  try {
    re = new RegExp(pattern);
  } catch (err) {
    throw bad(`grep is not a valid regular expression: ${(err as Error).message}`);
  }
  try {
    new RegExp(pattern, 'l');
  } catch {
    throw bad(`grep ${JSON.stringify(pattern)} cannot be matched in linear time: memlogd refuses backreferences, ` +
      'lookahead and lookbehind, and large {n,m} repetitions');
  }
  return re;
}
