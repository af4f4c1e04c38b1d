// JSON strings exactly as Go's encoding/json writes them by default (HTML-safe):
// `"` `\` as `\"` `\\`; \b \f \n \r \t short forms (Go >= 1.22); other bytes < 0x20 as \u00xx;
// `<` `>` `&` as \u003c \u003e \u0026; U+2028/U+2029 as \u2028/\u2029; every byte that does not
// start a valid UTF-8 sequence as \ufffd (one per byte, like utf8.DecodeRune). Pure.

import type { FastCopy } from '../wasm/fast-memory.js';
const HEX = '0123456789abcdef';
/** 0 = copy as is; 1 = needs escaping or is non-ASCII (slow path). */
const SPECIAL = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  SPECIAL[b] = b < 0x20 || b >= 0x80 || b === 0x22 || b === 0x5c || b === 0x3c || b === 0x3e || b === 0x26 ? 1 : 0;
}
const SHORT: Record<number, number> = { 0x08: 0x62, 0x0c: 0x66, 0x0a: 0x6e, 0x0d: 0x72, 0x09: 0x74, 0x22: 0x22, 0x5c: 0x5c };
const REPLACEMENT = Buffer.from('\\ufffd', 'latin1');

/** Length of the valid UTF-8 sequence starting at i (2-4), or 0 if invalid (Go's acceptRanges). */
function utf8SeqLen(src: Uint8Array, i: number, end: number): number {
  const b0 = src[i];
  if (b0 < 0xc2 || b0 > 0xf4) return 0;
  const cont = (j: number, lo = 0x80, hi = 0xbf) => j < end && src[j] >= lo && src[j] <= hi;
  if (b0 < 0xe0) return cont(i + 1) ? 2 : 0;
  if (b0 < 0xf0) {
    const lo = b0 === 0xe0 ? 0xa0 : 0x80;
    const hi = b0 === 0xed ? 0x9f : 0xbf; // no UTF-16 surrogates
    return cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
  }
  const lo = b0 === 0xf0 ? 0x90 : 0x80;
  const hi = b0 === 0xf4 ? 0x8f : 0xbf; // nothing above U+10FFFF
  return cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
}

/** Worst-case size of the escaped form of n bytes (every byte becomes \u00xx or \ufffd). */
export function maxEscapedLength(n: number): number {
  return n * 6;
}

/**
 * Writes src[start, end) JSON-escaped (without quotes) into out at o; returns the new offset.
 * out must have maxEscapedLength(end - start) bytes of room. With `fast`, and src and out both in
 * its memory, plain runs are found and copied by WebAssembly SIMD (which writes only what it copies).
 */
export function escapeJsonInto(src: Uint8Array, start: number, end: number, out: Uint8Array, o: number, fast?: FastCopy): number {
  const useFast = fast !== undefined && src.buffer === fast.buffer && out.buffer === fast.buffer;
  let i = start;
  while (i < end) {
    // A run of plain ASCII is copied as is.
    if (useFast) {
      const j = fast.copyClean(src.byteOffset + i, src.byteOffset + end, out.byteOffset + o) - src.byteOffset;
      o += j - i;
      i = j;
      if (i >= end) break;
    } else {
      let j = i;
      while (j < end && SPECIAL[src[j]] === 0) j++;
      if (j > i) {
        if (j - i > 16) out.set(src.subarray(i, j), o);
        else for (let k = i; k < j; k++) out[o + k - i] = src[k];
        o += j - i;
        i = j;
        if (i >= end) break;
      }
    }
    const b = src[i];
    if (b < 0x80) {
      const short = SHORT[b];
      if (short !== undefined) {
        out[o++] = 0x5c;
        out[o++] = short;
      } else {
        // control bytes and the HTML-sensitive < > &
        out[o++] = 0x5c; out[o++] = 0x75; out[o++] = 0x30; out[o++] = 0x30;
        out[o++] = HEX.charCodeAt(b >> 4); out[o++] = HEX.charCodeAt(b & 15);
      }
      i++;
      continue;
    }
    const n = utf8SeqLen(src, i, end);
    if (n === 0) {
      out.set(REPLACEMENT, o);
      o += 6;
      i++;
    } else if (n === 3 && b === 0xe2 && src[i + 1] === 0x80 && (src[i + 2] === 0xa8 || src[i + 2] === 0xa9)) {
      // U+2028 LINE SEPARATOR / U+2029 PARAGRAPH SEPARATOR: Go escapes them for JSONP safety
      out[o++] = 0x5c; out[o++] = 0x75; out[o++] = 0x32; out[o++] = 0x30; out[o++] = 0x32;
      out[o++] = src[i + 2] === 0xa8 ? 0x38 : 0x39;
      i += 3;
    } else {
      for (let k = 0; k < n; k++) out[o++] = src[i + k];
      i += n;
    }
  }
  return o;
}

/** Go-compatible JSON string literal (with quotes) of raw bytes. */
export function jsonString(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(maxEscapedLength(bytes.length) + 2);
  out[0] = 0x22;
  const o = escapeJsonInto(bytes, 0, bytes.length, out, 1);
  out[o] = 0x22;
  return Buffer.from(out.subarray(0, o + 1));
}
