import { resolve } from 'node:path';
import { defineConfig } from 'vite';

/** Every page is an entry of one multi-page build; the coordinator serves `dist/web`. */
export default defineConfig({
  root: 'web',
  build: {
    outDir: resolve(import.meta.dirname, 'dist/web'),
    emptyOutDir: true,
    rollupOptions: { input: { home: resolve(import.meta.dirname, 'web/index.html') } },
  },
});
