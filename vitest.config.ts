import { defineConfig } from 'vitest/config';

// Two cores here: files run two at a time, each in its own process, since the end-to-end
// tests start coordinators and Dawn agents of their own.
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts', 'workloads/**/*.test.ts'],
    globalSetup: ['tests/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Under CI a JSON report too, from which .ci/run prints the plain "N passed, N failed" line.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results/vitest.json' },
  },
});
