#!/usr/bin/env node
// In this repository: the TypeScript source, through tsx. Installed from the package (which
// holds no source): the compiled build, dist/pkg (vite.packages.config.ts).
import { existsSync } from 'node:fs';

if (existsSync(new URL('../server/cli.ts', import.meta.url))) {
  await import('./register.mjs');
  await import('../server/cli.ts');
} else {
  await import('../dist/pkg/cli.js');
}
