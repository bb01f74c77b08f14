// npm run bench:submit. What a large job's submission costs everyone else: a coordinator on
// PGlite (its store has one connection) in this process, a 20,000-unit job submitted while a
// client reads another job's state every 20 ms. Reports the submission's seconds and the
// longest a read waited meanwhile (from one answer to the next, less the 20 ms between); the median of BENCH_SUBMIT_RUNS (default 3) runs, each on a
// fresh data directory. BENCH_SUBMIT_UNITS: the job's units (default 20,000, the most a matmul
// job may have: 100 × 200 tiles).
// Writes bench/results/submit.{json,md}.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig } from '../server/config.ts';
import { startCoordinator } from '../server/coordinator.ts';
import { TestClient } from '../tests/helpers/client.ts';
import { freePort } from '../tests/helpers/coordinator.ts';
import { median } from './timing.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const runs = Number(process.env.BENCH_SUBMIT_RUNS ?? 3);
const units = Number(process.env.BENCH_SUBMIT_UNITS ?? 20_000);
const rows = 100;
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(units) || units % rows || units / rows > 2048) {
  console.error(`BENCH_SUBMIT_RUNS is a positive integer; BENCH_SUBMIT_UNITS a multiple of ${rows} up to ${rows * 2048}`);
  process.exit(2);
}

interface Run {
  submitSeconds: number;
  /** The longest a read of another job waited while the submission ran (ms): from one answer to the next, less the 20 ms between. */
  longestReadMs: number;
  reads: number;
}

async function once(): Promise<Run> {
  const dataDir = mkdtempSync(join(tmpdir(), 'supernet-bench-submit-'));
  const coordinator = await startCoordinator(loadConfig({ SUPERNET_DATA: dataDir, PORT: String(await freePort()) }));
  try {
    const dev = await TestClient.signup(coordinator.url, 'bench-submit@example.com');
    await dev.useNewKey();
    const other = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 8, k: 8, n: 8, seed: 1 } } }, 201);
    let submitting = true;
    let longest = 0;
    let reads = 0;
    const reader = (async () => {
      // From one answer to the next, less the 20 ms between: what a read waited, for the store
      // or for the coordinator's event loop (the job's sharding runs on it too).
      let last = performance.now();
      while (submitting) {
        await new Promise((r) => setTimeout(r, 20));
        await dev.json('GET', `/api/jobs/${other.id}`);
        const now = performance.now();
        longest = Math.max(longest, now - last - 20);
        last = now;
        reads++;
      }
    })();
    const t0 = performance.now();
    await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 8 * rows, k: 8, n: (8 * units) / rows, seed: 2 }, tile: 8 } }, 201);
    const submitSeconds = (performance.now() - t0) / 1000;
    submitting = false;
    await reader;
    return { submitSeconds: Number(submitSeconds.toFixed(2)), longestReadMs: Math.round(longest), reads };
  } finally {
    await coordinator.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const all: Run[] = [];
for (let i = 0; i < runs; i++) {
  const r = await once();
  console.log(`  run ${i + 1}: submitted ${units.toLocaleString('en')} units in ${r.submitSeconds} s; the longest read meanwhile ${r.longestReadMs} ms (${r.reads} reads)`);
  all.push(r);
}
const result = {
  date: new Date().toISOString(),
  units,
  submitSeconds: median(all.map((r) => r.submitSeconds)),
  longestReadMs: median(all.map((r) => r.longestReadMs)),
  runs: all,
};
console.log(`A ${units.toLocaleString('en')}-unit job's submission on PGlite: ${result.submitSeconds} s; another job's state read every 20 ms waited at most ${result.longestReadMs} ms (medians of ${runs})`);
const dir = resolve(repoRoot, 'bench/results');
mkdirSync(dir, { recursive: true });
writeFileSync(resolve(dir, 'submit.json'), JSON.stringify(result, null, 2) + '\n');
writeFileSync(
  resolve(dir, 'submit.md'),
  `# A large job's submission (${result.date.slice(0, 10)})\n\n\`npm run bench:submit\` (bench/submit.ts): one coordinator on PGlite in the bench's process, a ${units.toLocaleString('en')}-unit matmul job submitted while another job's state is read every 20 ms. Medians of ${runs} runs.\n\n| submission s | longest read meanwhile ms | runs (s / ms) |\n| ---: | ---: | --- |\n| ${result.submitSeconds} | ${result.longestReadMs} | ${all.map((r) => `${r.submitSeconds} / ${r.longestReadMs}`).join(', ')} |\n`,
);
