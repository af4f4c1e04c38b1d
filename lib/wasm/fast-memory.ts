// Memory shared by the store's arena and the readers' batch buffer, with a WebAssembly SIMD
// routine over it (lib/wasm/escape.wat): copying the plain run of a message into a JSON string is
// the per-line cost that dominates encoding, ~2.5 ns per byte in JavaScript here, ~0.3 with SIMD.
// Pure computation, no I/O: not the native addon, which only does what Node cannot (syscalls).

import { ESCAPE_WASM } from './escape-bytes.js';

const PAGE = 65536;
/** wasm32 can address 4 GiB; beyond that (a huge --max-bytes) the plain JavaScript path is used. */
const MAX_PAGES = 65535;

/** What escapeJsonInto needs to take the fast path (see lib/protocol.ts). */
export interface FastCopy {
  /** The ArrayBuffer both the source and the output must be views of. */
  readonly buffer: ArrayBufferLike;
  /** Copies plain bytes from [src, end) to dst (absolute offsets); returns where it stopped. */
  copyClean(src: number, end: number, dst: number): number;
}

let module: WebAssembly.Module | null = null;

/** `bytes` of memory (zeroed, touched lazily) and the fast copy over it; null if unavailable. */
export function fastMemory(bytes: number): { view: Buffer; fast: FastCopy } | null {
  const pages = Math.ceil(bytes / PAGE);
  if (pages > MAX_PAGES) return null;
  try {
    module ??= new WebAssembly.Module(Buffer.from(ESCAPE_WASM, 'base64'));
    const mem = new WebAssembly.Memory({ initial: pages, maximum: pages });
    const inst = new WebAssembly.Instance(module, { env: { mem } });
    const copyClean = inst.exports.copyClean as (s: number, e: number, d: number) => number;
    return { view: Buffer.from(mem.buffer, 0, bytes), fast: { buffer: mem.buffer, copyClean } };
  } catch {
    return null; // no WebAssembly SIMD here: the JavaScript path still works
  }
}
