// Bundles every binary (cmd/*.ts) into one file at its bin path (dist/cmd/<name>.js), over what
// tsc wrote there. Measured reason: Node's ESM loader resolves and reads each module file
// asynchronously, so a binary of ~30 modules plus commander spent ~130 ms of its start-up on
// loading; as one file memlogd accepts connections within ~25 ms of `node -e 0` (README,
// "Benchmark"). The library (dist/lib, what `import 'memlogd'` gets) stays tsc's output.
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const entries = fs.readdirSync(path.join(root, 'cmd')).filter((f) => f.endsWith('.ts')).map((f) => path.join(root, 'cmd', f));
await build({
  entryPoints: entries,
  outdir: path.join(root, 'dist/cmd'),
  outExtension: { '.js': '.js' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  // commander is CommonJS: give the bundle a require for its require() calls of node: modules
  banner: { js: "import { createRequire as __memlogdRequire } from 'node:module'; const require = __memlogdRequire(import.meta.url);" },
});
for (const e of entries) fs.chmodSync(path.join(root, 'dist/cmd', path.basename(e, '.ts') + '.js'), 0o755);
