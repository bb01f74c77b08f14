#!/usr/bin/env node
// Runs the TypeScript sources directly: tsx compiles them, and the hook below serves
// `*.wgsl?raw` imports as text the way vite does, so kernels have one source everywhere.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
register('./wgsl-hook.mjs', import.meta.url);
await import('../server/cli.ts');
