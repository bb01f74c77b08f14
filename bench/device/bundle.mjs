// The benches as plain JavaScript for a machine with Node and nothing else (bench/device/pack.sh):
// esbuild bundles them with the CLI (whose `serve` and `agent` the benches spawn) and the check
// pool's worker; `*.wgsl?raw` imports become text as vite makes them; Chromium and vite, which
// the Dawn-only sections never start, are stubbed; webgpu (a native addon) and PGlite (wasm
// beside its JS) stay outside and travel as packages. Usage: node bench/device/bundle.mjs OUTDIR
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { build } from 'esbuild'; // tsx's own, always installed with it

const root = resolve(import.meta.dirname, '../..');
const plugin = {
  name: 'supernet-device',
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (a) => ({ path: resolve(a.resolveDir, a.path.replace(/\?raw$/, '')), namespace: 'raw' }));
    b.onLoad({ filter: /.*/, namespace: 'raw' }, (a) => ({ contents: readFileSync(a.path, 'utf8'), loader: 'text' }));
    b.onResolve({ filter: /^(@playwright\/test|vite)$/ }, () => ({ path: 'stub', namespace: 'stub' }));
    b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({ contents: 'export const chromium = undefined, createServer = undefined, build = undefined; export default {};', loader: 'js' }));
  },
};
await build({
  entryPoints: { cli: 'server/cli.ts', 'check-pool': 'server/verify/check-pool.ts', coordinator: 'bench/coordinator.ts', matmul: 'bench/matmul.ts', workloads: 'bench/workloads.ts' },
  absWorkingDir: root,
  outdir: resolve(process.argv[2] ?? '.dev/app/x'),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['webgpu', '@electric-sql/pglite', '@electric-sql/pglite/*', '@roamhq/wrtc', 'pg-native'],
  plugins: [plugin],
  logLevel: 'warning',
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
});
