// Prints, one a line, the node_modules/ directories that production needs (what
// `npm prune --omit=dev` would keep), from package-lock.json: the VM test copies these next to
// dist/ without running npm. Nested entries are inside their parents' directories already.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
for (const [dir, meta] of Object.entries(lock.packages ?? {})) {
  if (!dir.startsWith('node_modules/') || meta.dev || meta.devOptional) continue;
  if (dir.lastIndexOf('node_modules/') !== 0) continue; // nested: copied with its parent
  console.log(dir);
}
