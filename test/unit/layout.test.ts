// The shape of the code, checked: no import cycles, pure modules stay pure, and the protocol's
// constants and wording are not restated outside lib/protocol/. Reads the sources as text.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LOG_SOCKET, DEFAULT_QUERY_SOCKET } from '../../lib/protocol/constants.js';
import { CHILD_ENV } from '../../lib/daemon/child.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(rel));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** Relative modules a file imports at run time (`import type` and `export type` do not load anything). */
function runtimeImports(file: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?'([^']+)'/gm)) {
    if (m[1]) continue;
    out.push(m[2]);
  }
  return out;
}

function resolve(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  return path.normalize(path.join(path.dirname(from), spec)).replace(/\.js$/, '.ts');
}

const FILES = [...sources('lib'), ...sources('cmd'), ...sources('bench')];

describe('layout', () => {
  it('has no import cycles (static, run-time imports)', () => {
    const graph = new Map(FILES.map((f) => [f, runtimeImports(f).map((s) => resolve(f, s)).filter((x): x is string => x !== null)]));
    // Tarjan's strongly connected components: any component of more than one file is a cycle.
    let index = 0;
    const idx = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const on = new Set<string>();
    const cycles: string[][] = [];
    const visit = (v: string) => {
      idx.set(v, index);
      low.set(v, index++);
      stack.push(v);
      on.add(v);
      for (const w of graph.get(v) ?? []) {
        if (!idx.has(w)) {
          visit(w);
          low.set(v, Math.min(low.get(v)!, low.get(w)!));
        } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
      }
      if (low.get(v) === idx.get(v)) {
        const comp: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          on.delete(w);
          comp.push(w);
        } while (w !== v);
        if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(comp);
      }
    };
    for (const f of graph.keys()) if (!idx.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });

  it('every relative import names a file that exists', () => {
    const missing = FILES.flatMap((f) => runtimeImports(f).map((s) => resolve(f, s)).filter((x) => x !== null && !fs.existsSync(path.join(ROOT, x))));
    expect(missing).toEqual([]);
  });

  it('pure modules use no sockets, files, processes or the addon', () => {
    const pure = [
      ...sources('lib/protocol'),
      'lib/daemon/store.ts', 'lib/daemon/drops.ts', 'lib/daemon/heap.ts', 'lib/daemon/framing.ts', 'lib/daemon/filter.ts', 'lib/daemon/names.ts', 'lib/daemon/notes.ts',
      'lib/logread/format.ts', 'lib/logread/request.ts',
      'lib/client/tracker.ts', 'lib/logwrite/format.ts', 'lib/logwrite/names.ts', 'lib/logwrite/entry-bytes.ts',
      'lib/logread/v1-text.ts', 'lib/kmsg/record.ts', 'lib/kmsg/format.ts',
      'lib/bundle/redact.ts', 'lib/bundle/dump.ts', 'lib/bundle/manifest.ts', 'lib/bundle/content.ts',
      'lib/forward/uri.ts', 'lib/forward/options.ts', 'lib/forward/appname.ts', 'lib/forward/rfc5424.ts', 'lib/forward/rfc3164.ts',
      'lib/forward/message.ts', 'lib/forward/framing.ts', 'lib/forward/outbox.ts',
    ];
    const impure = /^(node:(net|fs|child_process|dgram|worker_threads)|.*\/native\/index\.js)$/;
    const offenders = pure.flatMap((f) => runtimeImports(f).filter((s) => impure.test(s)).map((s) => `${f} imports ${s}`));
    expect(offenders).toEqual([]);
  });

  it('cmd/ and bench/ restate no protocol constant', () => {
    const owned = [DEFAULT_LOG_SOCKET, DEFAULT_QUERY_SOCKET, CHILD_ENV, '{"mode"', '"source":"memlogd"', 'gap: '];
    const offenders = [...sources('cmd'), ...sources('bench')].flatMap((f) => {
      const text = fs.readFileSync(path.join(ROOT, f), 'utf8');
      return owned.filter((s) => text.includes(s)).map((s) => `${f}: ${s}`);
    });
    expect(offenders).toEqual([]);
  });
});
