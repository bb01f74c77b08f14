#!/usr/bin/env node
import './register.mjs';

await import('../server/cli.ts');
