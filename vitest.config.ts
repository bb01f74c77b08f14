import { defineConfig } from 'vitest/config';

// Two cores here: files run two at a time, each in its own process, since the end-to-end
// tests start coordinators and Dawn agents of their own.
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
