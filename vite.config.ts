import { resolve } from 'node:path';
import { defineConfig } from 'vite';

/**
 * Every page is an entry of one multi-page build; the coordinator serves `dist/web`
 * (SUPERNET_WEB_DIR elsewhere). `/` is the contribute page, `/network` the network's figures, `/portal` the developer portal.
 * The GPU worker (web/worker/) is bundled from its `new Worker(new URL(…))` as an ES module.
 */
export default defineConfig({
  root: 'web',
  build: {
    outDir: resolve(import.meta.dirname, 'dist/web'),
    emptyOutDir: true,
    target: 'es2022',
    rollupOptions: {
      input: { contribute: resolve(import.meta.dirname, 'web/index.html'), network: resolve(import.meta.dirname, 'web/network.html'),
        portal: resolve(import.meta.dirname, 'web/portal.html'),
      },
    },
  },
  worker: { format: 'es' },
});
