// npm run bench: GFLOP/s of matmul, ours against the naive kernel and TensorFlow.js's WebGPU
// backend in one Chromium, ours in Dawn, and the JS CPU reference for scale. Medians of
// BENCH_RUNS (default 5) runs after a warm-up, impls interleaved run by run, every figure
// from this one run. Writes bench/results/matmul.json and matmul.md.
import { writeFileSync, mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { openDawnDevice } from '../server/agent/dawn.ts';
import { randomMatrix } from '../server/workloads/random.ts';
import { autotuneMatmul } from '../shaders/matmul/autotune.ts';
import { dispatchSecondsTarget, matmulGpu, type MatmulStats } from '../shaders/matmul/index.ts';
import { matmulReference } from '../shaders/matmul/reference.ts';
import { openBenchPage } from './chromium.ts';
import { timeRuns, type Impl } from './timing.ts';

interface Row { size: number; impl: Impl; host: 'chromium' | 'dawn' | 'node'; gflops: number; ms: number; maxDispatchMs: number | null }

const sizes = [256, 512, 1024, 2048];
const runs = Math.max(5, Number(process.env.BENCH_RUNS ?? 5));
/** The naive kernel and the CPU take minutes at 2048² here (0.4 and ~1 GFLOP/s): measured to 1024². */
const slowSizeMax = 1024;
/**
 * An impl whose run at the next size would take longer than this (its median at the size before
 * × 8) is not measured there, and the table says so: the bench must end within 5 minutes. On
 * 2026-12-02 TF.js at 2048² took 26 s a run, 155 s of a 360 s bench; on 11-25, 17.6 s.
 */
const runMsMax = 20_000;
const skipped: { size: number; impl: Impl; predictedMs: number }[] = [];
const rows: Row[] = [];
const find = (size: number, impl: Impl, host: Row['host']) => rows.find((r) => r.size === size && r.impl === impl && r.host === host);
const started = performance.now();
const gflops = (size: number, ms: number) => (2 * size ** 3) / (ms / 1000) / 1e9;
const log = (row: Row) => {
  rows.push(row);
  const dispatch = row.maxDispatchMs === null ? '' : `, longest dispatch ${row.maxDispatchMs.toFixed(0)} ms`;
  console.log(`  ${String(row.size).padStart(4)}²  ${row.impl.padEnd(5)} ${row.host.padEnd(8)} ${row.gflops.toFixed(2).padStart(6)} GFLOP/s (median ${row.ms.toFixed(0)} ms${dispatch})`);
};

console.log(`Chromium (WebGPU), ${runs} runs per figure:`);
const { page, close } = await openBenchPage();
const chromiumAdapter = await page.evaluate(() => window.supernetBench.adapter());
const chromiumTuning = await page.evaluate(() => window.supernetBench.autotune());
console.log(`  ${chromiumAdapter}; autotune chose ${chromiumTuning.config.kernel} ${chromiumTuning.config.wg.join('×')}`);
const chromiumBudget = chromiumTuning.gflops * 1e9 * dispatchSecondsTarget;
for (const size of sizes) {
  const impls = (size <= slowSizeMax ? ['ours', 'naive', 'tfjs'] : ['ours', 'tfjs']).filter((impl) => {
    const before = find(size / 2, impl as Impl, 'chromium');
    if (!before || before.ms * 8 <= runMsMax) return true;
    skipped.push({ size, impl: impl as Impl, predictedMs: Math.round(before.ms * 8) });
    return false;
  }) as Impl[];
  const results = await page.evaluate(([size, impls, runs, config, budget]) => window.supernetBench.run(size, impls, runs, config, budget), [size, impls, runs, chromiumTuning.config, chromiumBudget] as const);
  for (const r of results) log({ size, impl: r.impl, host: 'chromium', gflops: gflops(size, r.ms), ms: r.ms, maxDispatchMs: r.maxDispatchMs });
}
await close();

console.log('Dawn (WebGPU in Node):');
const dawn = await openDawnDevice();
const dawnTuning = await autotuneMatmul(dawn.device);
console.log(`  ${dawn.adapter.description}; autotune chose ${dawnTuning.config.kernel} ${dawnTuning.config.wg.join('×')}`);
for (const size of sizes) {
  const a = randomMatrix(size, size, 1), b = randomMatrix(size, size, 2);
  const stats: MatmulStats = { dispatches: 0, maxDispatchMs: 0 };
  const options = { config: dawnTuning.config, dispatchFlopsMax: dawnTuning.gflops * 1e9 * dispatchSecondsTarget, stats };
  const { ours } = await timeRuns(['ours'], runs, () => matmulGpu(dawn.device, a, b, options));
  log({ size, impl: 'ours', host: 'dawn', gflops: gflops(size, ours!), ms: ours!, maxDispatchMs: stats.maxDispatchMs });
}
dawn.device.destroy();

console.log('CPU reference (JS, one thread):');
for (const size of sizes.filter((s) => s <= slowSizeMax)) {
  const a = randomMatrix(size, size, 1), b = randomMatrix(size, size, 2);
  const { cpu } = await timeRuns(['cpu'], runs, async () => matmulReference(a, b));
  log({ size, impl: 'cpu', host: 'node', gflops: gflops(size, cpu!), ms: cpu!, maxDispatchMs: null });
}

const device = `${chromiumAdapter} (Chromium) / ${dawn.adapter.description} (Dawn), ${cpus().length} CPU cores`;
const longest = Math.max(...rows.filter((r) => r.impl === 'ours').map((r) => r.maxDispatchMs ?? 0));
const seconds = (performance.now() - started) / 1000;
const result = {
  device,
  date: new Date().toISOString(),
  runs,
  tuning: { chromium: chromiumTuning.config, dawn: dawnTuning.config },
  dispatchBoundMs: 1000,
  skipped,
  longestDispatchMs: { ours: longest },
  seconds,
  rows: rows.map((r) => ({ ...r, gflops: Number(r.gflops.toFixed(3)), ms: Number(r.ms.toFixed(1)), maxDispatchMs: r.maxDispatchMs === null ? null : Number(r.maxDispatchMs.toFixed(1)) })),
};
const cell = (r: Row | undefined) => (r ? r.gflops.toFixed(2) : '—');
const md = [
  `# matmul GFLOP/s (f32, square, upload + dispatch + read-back; median of ${runs})`,
  '',
  `Device: ${device}. Date: ${result.date}.`,
  `Autotune: ${chromiumTuning.config.kernel} ${chromiumTuning.config.wg.join('×')} in Chromium, ${dawnTuning.config.kernel} ${dawnTuning.config.wg.join('×')} in Dawn.`,
  '',
  '| size | ours (Chromium) | naive (Chromium) | TF.js WebGPU (Chromium) | ours ÷ TF.js | ours (Dawn) | CPU reference (JS) |',
  '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...sizes.map((s) => {
    const ours = find(s, 'ours', 'chromium'), tfjs = find(s, 'tfjs', 'chromium');
    const ratio = ours && tfjs ? `${(ours.gflops / tfjs.gflops).toFixed(1)}×` : '—';
    return `| ${s} | ${cell(ours)} | ${cell(find(s, 'naive', 'chromium'))} | ${cell(tfjs)} | ${ratio} | ${cell(find(s, 'ours', 'dawn'))} | ${cell(find(s, 'cpu', 'node'))} |`;
  }),
  '',
  `Longest single dispatch of ours: ${longest.toFixed(0)} ms (bound: 1000 ms; each node aims at ${dispatchSecondsTarget * 1000} ms of work per dispatch).`,
  `Naive and CPU are measured up to ${slowSizeMax}² (at 2048² they would take minutes per run here). The bench took ${seconds.toFixed(0)} s.`,
  ...skipped.map((k) => `Not measured: ${k.impl} at ${k.size}², about ${(k.predictedMs / 1000).toFixed(0)} s a run (over ${runMsMax / 1000} s: the bench must end within 5 minutes).`),
  '',
].join('\n');
const dir = resolve(import.meta.dirname, 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(resolve(dir, 'matmul.json'), JSON.stringify(result, null, 2) + '\n');
writeFileSync(resolve(dir, 'matmul.md'), md);
console.log('\n' + md);
process.exit(0);
