import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'vite';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The pages, built once for every browser test (SUPERNET_WEB_DIR of their coordinators). */
    webDir: string;
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
  return () => rmSync(webDir, { recursive: true, force: true });
}
