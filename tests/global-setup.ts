import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'vite';
import type { TestProject } from 'vitest/node';
import { openStore } from '../server/db/index.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The pages, built once for every browser test (SUPERNET_WEB_DIR of their coordinators). */
    webDir: string;
    /** A migrated PGlite data directory that each PGlite test copies (see tests/helpers/coordinator.ts). */
    pgliteTemplate: string;
  }
}

/**
 * Builds the pages once, into a directory of their own: `npm start` (tests/e2e/start.test.ts)
 * rebuilds dist/web while other files run, so the browser tests never serve from there.
 */
export default async function setup(project: TestProject) {
  const webDir = mkdtempSync(join(tmpdir(), 'supernet-web-'));
  await build({ configFile: resolve(import.meta.dirname, '../vite.config.ts'), logLevel: 'warn', build: { outDir: webDir, emptyOutDir: true } });
  project.provide('webDir', webDir);
  // A fresh PGlite store costs ~5 s here (its initdb, then our migrations); a copy of a migrated
  // one opens in ~0.8 s. About 40 tests each open one, so they start from this copy.
  const pgliteTemplate = mkdtempSync(join(tmpdir(), 'supernet-pglite-template-'));
  await (await openStore({ dataDir: pgliteTemplate, databaseUrl: null })).destroy();
  project.provide('pgliteTemplate', join(pgliteTemplate, 'pglite'));
  return () => {
    rmSync(webDir, { recursive: true, force: true });
    rmSync(pgliteTemplate, { recursive: true, force: true });
  };
}
