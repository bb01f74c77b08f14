import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { defineConfig, type Plugin } from 'vite';

/** The widget loader must stay small (issue 8: ≤ 5 KB gzipped): the build prints its size and fails over it. */
const loaderBytesMax = 5 * 1024;
function widgetLoaderSize(): Plugin {
  let outDir = '';
  return {
    name: 'supernet-widget-loader-size',
    configResolved(config) {
      outDir = config.build.outDir;
    },
    closeBundle() {
      const gz = gzipSync(readFileSync(resolve(outDir, 'widget.js')), { level: 9 }).byteLength;
      console.log(`widget.js loader: ${gz} bytes gzipped (limit ${loaderBytesMax})`);
      if (gz > loaderBytesMax) throw new Error(`widget.js is ${gz} bytes gzipped, over the ${loaderBytesMax}-byte limit`);
    },
  };
}

/**
 * Every page is an entry of one multi-page build; the coordinator serves `dist/web`
 * (SUPERNET_WEB_DIR elsewhere). `/` is the contribute page, `/network` the network's figures, `/portal` the developer portal.
 * The GPU worker (web/worker/) is bundled from its `new Worker(new URL(…))` as an ES module.
 * `web/public/widget.js`, the widget's loader, is copied as it is (small by hand); `widget.html`
 * is the iframe it places, served with the site's frame-ancestors (server/app.ts).
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
        widget: resolve(import.meta.dirname, 'web/widget.html'),
      },
    },
  },
  worker: { format: 'es' },
  plugins: [widgetLoaderSize()],
});
