// Source-name globs of v2 requests and logread: `*` any run, `?` one character, `[...]` a class
// (`[!...]` or `[^...]` negated, `a-z` ranges, a `]` right after the opening `[` or `[!` is
// literal); everything else, backslash included, stands for itself. Matched against the whole
// name, character by character (code points). Pure.
//
// No RegExp: a glob turned into a backtracking RegExp (`*a*a*a...b` as `.*a.*a.*a...b`) takes
// time exponential in the number of stars, on the daemon's only thread. Here a glob is split at
// its stars into segments; the first must match at the start, the last at the end, and each one
// between is taken at its leftmost match after the previous one. That greedy choice is safe
// because a star can absorb anything the next segment skips, so nothing is ever retried: a
// match costs at most (name length x segment length) per segment, and a segment longer than
// what is left of the name fails at once. Names are at most 512 bytes (MAX_NAME_LEN).

import { ProtocolError } from './errors.js';

/** One position of a segment: a literal code point (>= 0), ANY, or a class (CLASS_BASE - index). */
const ANY = -1;
const CLASS_BASE = -2;

interface CharClass {
  negated: boolean;
  /** Inclusive code point ranges, flattened: [lo0, hi0, lo1, hi1, ...]. */
  ranges: number[];
}

/** A compiled glob. */
export class Glob {
  /** @internal use compileGlob */
  constructor(
    /** The text between stars; a glob without stars has exactly one. */
    private readonly segments: Int32Array[],
    private readonly classes: CharClass[],
    /** Whether the glob has at least one star (then segments[0] and the last are anchored). */
    private readonly starred: boolean,
  ) {}

  /** Does the whole name match? */
  matches(name: string): boolean {
    const cps = codePoints(name);
    const segs = this.segments;
    const n = cps.length;
    if (!this.starred) return segs[0].length === n && this.at(segs[0], cps, 0);
    const first = segs[0];
    const last = segs[segs.length - 1];
    if (first.length + last.length > n) return false;
    if (!this.at(first, cps, 0) || !this.at(last, cps, n - last.length)) return false;
    let pos = first.length;
    const end = n - last.length;
    for (let i = 1; i < segs.length - 1; i++) {
      const found = this.find(segs[i], cps, pos, end);
      if (found < 0) return false;
      pos = found + segs[i].length;
    }
    return true;
  }

  /** Leftmost start in [from, end - seg.length] where seg matches, or -1. */
  private find(seg: Int32Array, cps: Int32Array, from: number, end: number): number {
    for (let s = from; s + seg.length <= end; s++) if (this.at(seg, cps, s)) return s;
    return -1;
  }

  /** Does seg match cps at position s (the caller checked it fits)? */
  private at(seg: Int32Array, cps: Int32Array, s: number): boolean {
    for (let j = 0; j < seg.length; j++) {
      const t = seg[j];
      const c = cps[s + j];
      if (t >= 0 ? t !== c : t !== ANY && !inClass(this.classes[CLASS_BASE - t], c)) return false;
    }
    return true;
  }
}

function inClass(cls: CharClass, c: number): boolean {
  const r = cls.ranges;
  let hit = false;
  for (let i = 0; i < r.length && !hit; i += 2) hit = c >= r[i] && c <= r[i + 1];
  return hit !== cls.negated;
}

function codePoints(s: string): Int32Array {
  const out = new Int32Array(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.codePointAt(i)!;
    out[n++] = c;
    if (c > 0xffff) i++;
  }
  return out.subarray(0, n);
}

/** Compiles a glob; throws ProtocolError(ERR_BAD_REQUEST) on a malformed one. Linear in its length. */
export function compileGlob(glob: string): Glob {
  const bad = (why: string) => new ProtocolError('ERR_BAD_REQUEST', `${why} in glob ${JSON.stringify(glob)}`);
  const cps = codePoints(glob);
  const segments: Int32Array[] = [];
  const classes: CharClass[] = [];
  let seg: number[] = [];
  let starred = false;
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i];
    if (c === 0x2a /* * */) {
      segments.push(Int32Array.from(seg));
      seg = [];
      starred = true;
      while (cps[i + 1] === 0x2a) i++; // consecutive stars are one star
    } else if (c === 0x3f /* ? */) {
      seg.push(ANY);
    } else if (c === 0x5b /* [ */) {
      let j = i + 1;
      const negated = cps[j] === 0x21 /* ! */ || cps[j] === 0x5e; /* ^ */
      if (negated) j++;
      const ranges: number[] = [];
      const open = j;
      for (; j < cps.length && (cps[j] !== 0x5d /* ] */ || j === open); j++) {
        const lo = cps[j];
        if (cps[j + 1] === 0x2d /* - */ && j + 2 < cps.length && cps[j + 2] !== 0x5d) {
          const hi = cps[j + 2];
          if (hi < lo) throw bad(`range ${String.fromCodePoint(lo)}-${String.fromCodePoint(hi)} out of order`);
          ranges.push(lo, hi);
          j += 2;
        } else ranges.push(lo, lo);
      }
      if (j >= cps.length) throw bad('unclosed [');
      seg.push(CLASS_BASE - classes.length);
      classes.push({ negated, ranges });
      i = j;
    } else seg.push(c);
  }
  segments.push(Int32Array.from(seg));
  return new Glob(segments, classes, starred);
}

/** Does name match glob (compiled each call: for one-off checks)? */
export function globMatches(glob: string, name: string): boolean {
  return compileGlob(glob).matches(name);
}
