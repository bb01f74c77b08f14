import { builtinModules } from 'node:module';
import { defineConfig } from 'vite';
import pkg from './package.json' with { type: 'json' };

/**
 * The installable build: the Node side compiled to plain ESM JavaScript (kernels' WGSL inlined,
 * dependencies left to npm), for `npm pack`. Two outputs from one config:
 *   dist/pkg/             the `supernet` package: the CLI (bin), the client, the agent, the coordinator
 *                         (and check-pool.js, an entry of its own: its worker threads load that file)
 *   packages/client/dist  `@supernet/client`: the typed client alone, zod its only dependency
 * (SUPERNET_PACKAGE=client picks the second). Declarations come from tsc (tsconfig.types.json).
 */
const clientOnly = process.env.SUPERNET_PACKAGE === 'client';
const dependencies = Object.keys(pkg.dependencies);
const external = (id: string) => id.startsWith('node:') || builtinModules.includes(id) || dependencies.some((d) => id === d || id.startsWith(`${d}/`));

export default defineConfig({
  publicDir: false,
  build: {
    ssr: true,
    target: 'node20',
    outDir: clientOnly ? 'packages/client/dist' : 'dist/pkg',
    emptyOutDir: true,
    minify: false,
    sourcemap: true,
    rollupOptions: {
      input: clientOnly
        ? { client: 'server/api/client.ts' }
        : { cli: 'server/cli.ts', client: 'server/api/client.ts', agent: 'server/agent/main.ts', coordinator: 'server/coordinator.ts', 'check-pool': 'server/verify/check-pool.ts' },
      external,
      output: { format: 'es', entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js' },
    },
  },
  ssr: { target: 'node', noExternal: [] },
});
