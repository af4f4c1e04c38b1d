// Source-name globs: what they match, what is malformed, agreement with the obvious recursive
// definition on random small inputs, and the inputs that made the old RegExp translation
// backtrack for minutes (they must simply finish).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../../lib/protocol/errors.js';
import { compileGlob, globMatches } from '../../../lib/protocol/glob.js';

/** The definition, by recursion on the glob (exponential, fine for a few characters). */
function reference(glob: string[], name: string[]): boolean {
  if (glob.length === 0) return name.length === 0;
  const [g, ...rest] = glob;
  if (g === '*') return name.some((_, i) => reference(rest, name.slice(i))) || reference(rest, []);
  if (name.length === 0) return false;
  if (g === '?' || g === name[0]) return reference(rest, name.slice(1));
  return false;
}

describe('globs', () => {
  it('match classes, ranges and negation; ] first in a class is literal', () => {
    expect(globMatches('[a-c]x', 'bx')).toBe(true);
    expect(globMatches('[a-c]x', 'dx')).toBe(false);
    expect(globMatches('[!a-c]x', 'dx')).toBe(true);
    expect(globMatches('[^a-c]x', 'ax')).toBe(false);
    expect(globMatches('[]]', ']')).toBe(true);
    expect(globMatches('[!]]', 'a')).toBe(true);
    expect(globMatches('[!]]', ']')).toBe(false);
    expect(globMatches('[a-]', '-')).toBe(true);
    expect(globMatches('a\\b', 'a\\b')).toBe(true); // backslash is an ordinary character
  });

  it('count a character outside the BMP as one', () => {
    expect(globMatches('?', '😀')).toBe(true);
    expect(globMatches('a?b', 'a😀b')).toBe(true);
    expect(globMatches('[😀x]', '😀')).toBe(true);
  });

  it('anchor at both ends, with stars anywhere', () => {
    for (const [g, s, want] of [
      ['*', '', true], ['**', 'abc', true], ['a*', 'a', true], ['*a', 'ba', true], ['*a', 'ab', false],
      ['a*b*c', 'abc', true], ['a*b*c', 'aXbYc', true], ['a*b*c', 'acb', false], ['ab*ba', 'aba', false],
      ['*aa*aa*', 'aaaa', true], ['*aa*aa*', 'aaa', false], ['', '', true], ['', 'x', false],
    ] as const) expect(globMatches(g, s), `${g} ~ ${s}`).toBe(want);
  });

  it('refuse malformed ones with ERR_BAD_REQUEST', () => {
    for (const g of ['[abc', '[', '[]', '[!]', '[z-a]']) {
      expect(() => compileGlob(g), g).toThrow(ProtocolError);
    }
    expect(() => compileGlob('x[abc')).toThrow(/unclosed \[ in glob "x\[abc"/);
    expect(() => compileGlob('[z-a]')).toThrow(/range z-a out of order/);
  });

  it('agree with the recursive definition (*, ? and literals over a small alphabet)', () => {
    const glob = fc.array(fc.constantFrom('a', 'b', '*', '?'), { maxLength: 8 });
    const name = fc.array(fc.constantFrom('a', 'b'), { maxLength: 10 });
    fc.assert(fc.property(glob, name, (g, n) => globMatches(g.join(''), n.join('')) === reference(g, n)), { numRuns: 3000 });
  });

  it('finish at once on the globs that made a RegExp backtrack for minutes', () => {
    const name = 'a'.repeat(512); // the longest name memlogd accepts
    expect(globMatches('*a'.repeat(2000) + 'b', name)).toBe(false);
    expect(globMatches('*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b', name)).toBe(false);
    expect(globMatches('*' + '?'.repeat(256) + 'b*', name)).toBe(false);
    expect(globMatches('*'.repeat(30_000) + 'a', name)).toBe(true);
  });
});
