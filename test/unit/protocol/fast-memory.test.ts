import { describe, expect, it } from 'vitest';
import { escapeJsonInto, maxEscapedLength } from '../../../lib/protocol/index.js';
import { fastMemory } from '../../../lib/wasm/fast-memory.js';

describe('WebAssembly SIMD copy of plain runs', () => {
  const fm = fastMemory(1 << 20)!;
  it('is available on this Node', () => {
    expect(fm).not.toBeNull();
  });

  it('escapes exactly like the JavaScript path, on random bytes of every kind', () => {
    const { view, fast } = fm;
    const src = view.subarray(0, 1 << 19);
    const out = view.subarray(1 << 19);
    let seed = 11;
    const rnd = () => (seed = (seed * 48271) % 2147483647);
    const alphabet = [...'abcdefgh0123 .;:{}'].map((c) => c.charCodeAt(0)).concat([0x22, 0x5c, 0x3c, 0x3e, 0x26, 0x09, 0x0a, 0x01, 0x7f, 0xc3, 0xa9, 0xe2, 0x80, 0xa8, 0xff, 0xf0, 0x9f, 0x98, 0x80]);
    for (let round = 0; round < 2000; round++) {
      const len = rnd() % 200;
      const start = rnd() % 1000;
      for (let i = 0; i < len; i++) src[start + i] = rnd() % 5 === 0 ? alphabet[rnd() % alphabet.length] : 0x61 + (rnd() % 26);
      const plain = Buffer.alloc(maxEscapedLength(len));
      const n = escapeJsonInto(src, start, start + len, plain, 0);
      const o0 = rnd() % 100;
      const m = escapeJsonInto(src, start, start + len, out, o0, fast) - o0;
      expect(out.subarray(o0, o0 + m).toString('latin1')).toBe(plain.subarray(0, n).toString('latin1'));
    }
  });

  it('is not used when the buffers are not in its memory', () => {
    const { fast } = fm;
    const src = Buffer.from('plain <text>');
    const out = Buffer.alloc(100);
    const n = escapeJsonInto(src, 0, src.length, out, 0, fast);
    expect(out.toString('latin1', 0, n)).toBe('plain \\u003ctext\\u003e');
  });
});
