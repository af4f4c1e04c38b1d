import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Budget, gunzipAll, maskBytes, newestBytes, newestGzip } from '../../../lib/bundle/content.js';
import { MASK, Redactor } from '../../../lib/bundle/redact.js';
import { Skip } from '../../../lib/bundle/task.js';

const R = Redactor.of(false, []);
const lines = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `line ${String(from + i).padStart(4, '0')} ${'x'.repeat(20)}\n`).join('');

describe('maskBytes', () => {
  it('masks text, and leaves the bytes untouched when there is nothing to mask', () => {
    const plain = Buffer.from('ok\n');
    expect(maskBytes(plain, false, R).data).toBe(plain);
    expect(maskBytes(Buffer.from('a token=abc\n'), false, R)).toMatchObject({ data: Buffer.from(`a token=${MASK}\n`), counts: { 'secret-value': 1 } });
  });

  it('masks a gzip file through decompression, and compresses it again', () => {
    const gz = zlib.gzipSync(`first\npassword=hunter2\n${lines(50)}`);
    const m = maskBytes(gz, true, R);
    expect(zlib.gunzipSync(m.data).toString()).toBe(`first\npassword=${MASK}\n${lines(50)}`);
    expect(m.plain!.toString()).toBe(`first\npassword=${MASK}\n${lines(50)}`);
    expect(m.counts).toEqual({ 'secret-value': 1 });
  });

  it('reads a gzip stream cut short (still being written) as far as it goes', () => {
    const gz = zlib.gzipSync(lines(400));
    const cut = gz.subarray(0, Math.floor(gz.length / 2));
    expect(gunzipAll(cut).complete).toBe(false);
    const m = maskBytes(cut, true, R);
    expect(m.notes[0]).toMatch(/ends early/);
    expect(lines(400).startsWith(zlib.gunzipSync(m.data).toString())).toBe(true);
  });

  it('keeps bytes that are not UTF-8 as they are', () => {
    const data = Buffer.concat([Buffer.from('caf'), Buffer.from([0xe9]), Buffer.from(' token=x\n')]);
    expect(maskBytes(data, false, R).data).toEqual(Buffer.concat([Buffer.from('caf'), Buffer.from([0xe9]), Buffer.from(` token=${MASK}\n`)]));
  });

  it('refuses binary data and what is not gzip at all', () => {
    expect(() => maskBytes(Buffer.from([1, 0, 2]), false, R)).toThrow(Skip);
    expect(() => maskBytes(Buffer.from('not gzip'), true, R)).toThrow();
  });
});

describe('the --max-size budget', () => {
  it('cuts to the newest bytes, starting at a line', () => {
    const buf = Buffer.from('aaaa\nbbbb\ncccc\n');
    expect(newestBytes(buf, 12).toString()).toBe('bbbb\ncccc\n');
    expect(newestBytes(buf, 10).toString()).toBe('bbbb\ncccc\n');
    expect(newestBytes(buf, 100)).toBe(buf);
    expect(newestBytes(Buffer.from('ééé'), 3).toString()).toBe('é'); // never half a character
  });

  it('gives the newest file whole, cuts the next, skips the rest', () => {
    const b = new Budget(1300);
    const a = Buffer.from(lines(20)); // 620 bytes
    expect(b.fit(a, false)).toEqual({ data: a, truncated: false });
    const cut = b.fit(Buffer.from(lines(40, 100)), false)!;
    expect(cut.truncated).toBe(true);
    expect(cut.data.length).toBeLessThanOrEqual(700);
    expect(cut.data.length).toBeGreaterThan(600);
    expect(lines(40, 100).endsWith(cut.data.toString())).toBe(true);
    expect(cut.data.toString()).toMatch(/^line 0\d{3} x+\n/);
    expect(b.fit(Buffer.from(lines(20, 200)), false)).toBeNull();
    expect(b.used).toBeLessThanOrEqual(1300);
  });

  it('cuts a gzip file to its newest lines, compressed again within what is left', () => {
    const plain = Buffer.from(lines(2000));
    const gz = zlib.gzipSync(plain);
    const z = newestGzip(plain, 500, gz.length / plain.length)!;
    expect(z.length).toBeLessThanOrEqual(500);
    const kept = zlib.gunzipSync(z).toString();
    expect(kept.length).toBeGreaterThan(500);
    expect(plain.toString().endsWith(kept)).toBe(true);
    const b = new Budget(800);
    expect(b.fit(gz, true)!.truncated).toBe(true);
    expect(b.used).toBeLessThanOrEqual(800);
  });
});
