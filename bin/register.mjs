// `node --import ./bin/register.mjs file.ts`: TypeScript through tsx, and `*.wgsl?raw`
// imports served as text the way vite does, so kernels have one source everywhere.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
register('./wgsl-hook.mjs', import.meta.url);
