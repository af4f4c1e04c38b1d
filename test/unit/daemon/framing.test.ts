import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cutPoint, LineFramer, PARTIAL } from '../../../lib/daemon/framing.js';

function frame(chunks: Array<string | Buffer>, maxLineLen = 64): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  const f = new LineFramer(maxLineLen, (b, s, e, fl) => out.push([b.toString('latin1', s, e), fl]));
  for (const c of chunks) f.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : c);
  f.end();
  return out;
}

describe('LineFramer', () => {
  it('splits on \\n, strips one \\r, keeps empty lines, flushes the last line at EOF', () => {
    expect(frame(['hello\nsecond\n\ncrlf line\r\nno newline'])).toEqual([
      ['hello', 0], ['second', 0], ['', 0], ['crlf line', 0], ['no newline', 0],
    ]);
  });
  it('joins lines split across chunks, including a split \\r\\n', () => {
    expect(frame(['ab', 'c\r', '\nd', 'e\n'])).toEqual([['abc', 0], ['de', 0]]);
  });
  it('keeps every byte of a long line as continuation pieces', () => {
    const long = 'L'.repeat(200);
    const out = frame([long + '\nnext line intact\n']);
    expect(out.map(([s]) => s.length)).toEqual([64, 64, 64, 8, 16]);
    expect(out.map(([, f]) => f)).toEqual([PARTIAL, PARTIAL, PARTIAL, 0, 0]);
    expect(out.slice(0, 4).map(([s]) => s).join('')).toBe(long);
  });
  it('emits long lines arriving byte by byte without holding more than the limit', () => {
    const out: Array<[string, number]> = [];
    const f = new LineFramer(16, (b, s, e, fl) => out.push([b.toString('latin1', s, e), fl]));
    const text = 'x'.repeat(100);
    for (const ch of text) {
      f.push(Buffer.from(ch));
      expect(f.pending).toBeLessThanOrEqual(16);
    }
    f.push(Buffer.from('\n'));
    f.end();
    expect(out.map(([s]) => s).join('')).toBe(text);
    expect(out.every(([s]) => s.length <= 16)).toBe(true);
    expect(out.at(-1)![1]).toBe(0);
  });
  it('does not cut inside a UTF-8 character', () => {
    const line = 'é'.repeat(40); // 80 bytes
    const out: Buffer[] = [];
    const f = new LineFramer(15, (b, s, e) => out.push(Buffer.from(b.subarray(s, e))));
    f.push(Buffer.from(line + '\n'));
    for (const piece of out) expect(piece.toString('utf8')).not.toContain('\ufffd');
    expect(Buffer.concat(out).toString()).toBe(line);
  });
  it('delivers the same lines, in the same order, with a batch sink', () => {
    let seed = 3;
    const rnd = () => (seed = (seed * 48271) % 2147483647);
    let text = '';
    for (let i = 0; i < 3000; i++) text += 'ab\r'.repeat(rnd() % 40) + (rnd() % 7 === 0 ? '\r\n' : '\n');
    const data = Buffer.from(text + 'tail');
    const chunks: Buffer[] = [];
    for (let pos = 0; pos < data.length;) {
      const n = 1 + (rnd() % 300);
      chunks.push(data.subarray(pos, pos + n));
      pos += n;
    }
    const single = frame(chunks, 50);
    const batched: Array<[string, number]> = [];
    let batches = 0;
    const f = new LineFramer(50, (b, s, e, fl) => batched.push([b.toString('latin1', s, e), fl]),
      (b, starts, ends, flags, n) => {
        batches++;
        for (let i = 0; i < n; i++) batched.push([b.toString('latin1', starts[i], ends[i]), flags[i]]);
      });
    for (const c of chunks) f.push(c);
    f.end();
    expect(batched).toEqual(single);
    expect(batches).toBeGreaterThan(0);
  });

  it('produces nothing for an empty stream', () => {
    expect(frame([])).toEqual([]);
  });
  it('cutPoint never returns the start', () => {
    const b = Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80]);
    expect(cutPoint(b, 0, 4)).toBeGreaterThan(0);
  });
});

// Properties against a simple model: the stream split on \n with one \r before it dropped (and
// a last line without \n kept), each line then cut into pieces. Where exactly a long line is cut
// is the framer's choice within rules the model checks (at most maxLineLen bytes, never inside
// a UTF-8 character or right after a \r, no shorter than needed); that the choice does not
// depend on how the bytes were chunked is checked by comparing with one chunk.
describe('LineFramer properties', () => {
  /** Lines as the model splits them: bytes between \n, one trailing \r dropped. */
  function modelLines(data: Buffer): Buffer[] {
    const lines: Buffer[] = [];
    let pos = 0;
    while (pos < data.length) {
      let nl = data.indexOf(0x0a, pos);
      if (nl < 0) nl = data.length;
      let end = nl;
      if (end > pos && data[end - 1] === 0x0d) end--;
      lines.push(data.subarray(pos, end));
      pos = nl + 1;
    }
    return lines;
  }

  type Piece = [Buffer, number];
  function run(chunks: Buffer[], max: number, batched: boolean): Piece[] {
    const out: Piece[] = [];
    const one = (b: Buffer, s: number, e: number, fl: number) => out.push([Buffer.from(b.subarray(s, e)), fl]);
    const f = new LineFramer(max, one, batched ? (b, starts, ends, flags, n) => {
      for (let i = 0; i < n; i++) one(b, starts[i], ends[i], flags[i]);
    } : undefined);
    for (const c of chunks) f.push(c);
    f.end();
    return out;
  }

  /** Bytes that make framing interesting: \n, \r, UTF-8 lead and continuation bytes, plain ASCII. */
  const byte = fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0x61, max: 0x66 }) },
    { weight: 1, arbitrary: fc.constantFrom(0x0a, 0x0d) },
    { weight: 1, arbitrary: fc.constantFrom(0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80, 0xff) },
  );
  /** Lines whose length is near a multiple of max (where cuts happen), ended by \n, \r\n or nothing. */
  const nearLimit = (max: number) => fc.array(fc.record({
    len: fc.integer({ min: 0, max: 3 }).chain((k) => fc.integer({ min: Math.max(0, k * max - 2), max: k * max + 2 })),
    fill: fc.array(byte, { minLength: 1, maxLength: 4 }),
    end: fc.constantFrom('\n', '\r\n', '\r', ''),
  }), { maxLength: 12 }).map((ls) => ls.flatMap(({ len, fill, end }) => [
    ...Array.from({ length: len }, (_, i) => (fill[i % fill.length] === 0x0a ? 0x61 : fill[i % fill.length])),
    ...Buffer.from(end),
  ]));
  const stream = fc.integer({ min: 8, max: 40 }).chain((max) => fc.record({
    data: fc.oneof(fc.array(byte, { maxLength: 600 }), nearLimit(max)),
    max: fc.constant(max),
    cuts: fc.array(fc.nat(), { maxLength: 30 }),
    batched: fc.boolean(),
  }));
  const chunked = (data: Buffer, cuts: number[]) => {
    const at = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
    const chunks: Buffer[] = [];
    let prev = 0;
    for (const c of [...at, data.length]) {
      chunks.push(data.subarray(prev, c));
      prev = c;
    }
    return chunks;
  };

  it('pieces join back to the model\'s lines, within the rules, however the stream is chunked', () => {
    fc.assert(fc.property(stream, ({ data: bytes, max, cuts, batched }) => {
      const data = Buffer.from(bytes);
      const got = run(chunked(data, cuts), max, batched);
      // same entries as one chunk, with or without a batch sink
      expect(got).toEqual(run([data], max, false));
      const lines = modelLines(data);
      let i = 0;
      for (const line of lines) {
        const pieces: Buffer[] = [];
        for (;;) {
          const [piece, flags] = got[i++];
          expect(piece.length).toBeLessThanOrEqual(max);
          pieces.push(piece);
          if (flags !== PARTIAL) {
            expect(flags).toBe(0);
            break;
          }
          // a cut piece is as long as the rules allow: at most 4 bytes back to a UTF-8 boundary, one more before a \r
          expect(piece.length).toBeGreaterThanOrEqual(max - 5);
          expect(piece.length).toBeGreaterThan(0);
          // never right after a \r (it could be half of a \r\n): a piece ends in \r only when
          // another \r follows (so that one is content)
          if (piece.length > 1 && piece[piece.length - 1] === 0x0d) expect(got[i][0][0]).toBe(0x0d);
        }
        expect(Buffer.concat(pieces)).toEqual(line);
        // not inside a UTF-8 character: when the line is valid UTF-8, so is every piece
        if (Buffer.from(line.toString('utf8'), 'utf8').equals(line)) {
          for (const p of pieces) expect(Buffer.from(p.toString('utf8'), 'utf8').equals(p)).toBe(true);
        }
      }
      expect(i).toBe(got.length);
    }), { numRuns: 400, seed: 11 });
  });

  it('a line of plain ASCII is cut into pieces of exactly maxLineLen bytes', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 8, max: 32 }), fc.boolean(),
      fc.array(fc.nat(), { maxLength: 10 }), (len, max, crlf, cuts) => {
        const data = Buffer.from('x'.repeat(len) + (crlf ? '\r\n' : '\n'));
        const got = run(chunked(data, cuts), max, true);
        const n = Math.max(1, Math.ceil(len / max));
        expect(got.map(([p]) => p.length)).toEqual(Array.from({ length: n }, (_, k) => (k < n - 1 ? max : len - max * (n - 1))));
      }), { numRuns: 300, seed: 12 });
  });

  it('a line of exactly maxLineLen bytes ending in \\r\\n is one entry, also when the \\n comes later', () => {
    expect(frame(['x'.repeat(16) + '\r', '\n'], 16)).toEqual([['x'.repeat(16), 0]]);
    expect(frame(['x'.repeat(16) + '\r', 'y\n'], 16)).toEqual([['x'.repeat(16), PARTIAL], ['\ry', 0]]);
  });

  it('cutPoint stays in (start, start + limit]', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 2, maxLength: 64 }), fc.nat(), fc.integer({ min: 1, max: 40 }), (b, s, limit) => {
      const start = s % (b.length - 1);
      fc.pre(start + limit < b.length);
      const c = cutPoint(b, start, limit);
      expect(c).toBeGreaterThan(start);
      expect(c).toBeLessThanOrEqual(start + limit);
    }), { numRuns: 300, seed: 13 });
  });
});
