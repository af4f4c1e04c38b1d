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
