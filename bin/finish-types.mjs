// After `tsc -p tsconfig.types.json`: the declarations import each other as `./x.ts` (our
// source's spelling); a user's TypeScript finds `./x.js` beside its `./x.d.ts`. Rewrites the
// relative specifiers, then copies the declarations into @supernet/client as well.
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../dist/types/', import.meta.url).pathname;
for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue;
  const path = join(entry.parentPath, entry.name);
  const text = readFileSync(path, 'utf8');
  writeFileSync(path, text.replace(/(from\s+|import\()(['"])(\.{1,2}\/[^'"]+)\.ts\2/g, '$1$2$3.js$2'));
}
cpSync(root, new URL('../packages/client/dist/types/', import.meta.url).pathname, { recursive: true });
