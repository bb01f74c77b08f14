// npm run bench: GFLOP/s of matmul, ours against the naive kernel, TensorFlow.js's WebGPU
// backend and jax-js on WebGPU in one Chromium, ours in Dawn, and the JS CPU reference for scale. Medians of
// BENCH_RUNS (default 5) runs after a warm-up, impls interleaved run by run, every figure
// from this one run. Writes bench/results/matmul.json and matmul.md.
import { writeFileSync, mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { openDawnDevice } from '../server/agent/dawn.ts';
import { randomMatrix } from '../workloads/matmul/random.ts';
import { autotuneMatmul, type Tuning } from '../workloads/matmul/autotune.ts';
import { matmulConfigF16 } from '../workloads/matmul/configs.ts';
import { dispatchSecondsTarget, matmulGpu, type MatmulStats } from '../workloads/matmul/gpu.ts';
import { matmulReference } from '../workloads/matmul/reference.ts';
import { openBenchPage } from './chromium.ts';
import { median, timeRuns, type Impl } from './timing.ts';

interface Row {
  size: number;
  impl: Impl;
  host: 'chromium' | 'dawn' | 'dawn-f16' | 'node';
  gflops: number;
  ms: number;
  maxDispatchMs: number | null;
  /** Dawn: the rate over the dispatches' time alone (RunStats.busyMs), median of the runs. */
  kernelGflops?: number;
}

/**
 * Knobs for a run on a real GPU (README, "Kernels and the bench"): BENCH_HOSTS picks the sections
 * (chromium, dawn, node; default all), BENCH_SIZES the sizes, BENCH_PEAK_GFLOPS the
 * adapter's fp32 peak, for a share-of-peak column, BENCH_OUT the results' file name (default
 * matmul: bench/results/matmul.{json,md}), BENCH_F16=1 a Dawn row with A and B in float16 too
 * (the kernels jobs of precision f16 get). Defaults measure this project's machines.
 */
const hosts = (process.env.BENCH_HOSTS ?? 'chromium,dawn,node').split(',');
const sizes = (process.env.BENCH_SIZES ?? '256,512,1024,2048').split(',').map(Number);
const peakGflops = Number(process.env.BENCH_PEAK_GFLOPS ?? 0) || null;
const outName = process.env.BENCH_OUT ?? 'matmul';
const f16 = process.env.BENCH_F16 === '1';
if (sizes.some((s) => !Number.isInteger(s) || s < 1) || !hosts.every((h) => ['chromium', 'dawn', 'node'].includes(h)) || !/^[\w.-]+$/.test(outName)) {
  console.error('BENCH_SIZES is a list of sizes such as 256,512; BENCH_HOSTS a list of chromium, dawn, node; BENCH_OUT a plain file name');
  process.exit(2);
}
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
  const kernel = row.kernelGflops ? `, dispatches alone ${row.kernelGflops.toFixed(1)} GFLOP/s` : '';
  console.log(`  ${String(row.size).padStart(4)}²  ${row.impl.padEnd(5)} ${row.host.padEnd(8)} ${row.gflops.toFixed(2).padStart(6)} GFLOP/s (median ${row.ms.toFixed(0)} ms${dispatch}${kernel})`);
};

let chromiumAdapter = '', chromiumTuning: Tuning | null = null;
if (hosts.includes('chromium')) {
  console.log(`Chromium (WebGPU), ${runs} runs per figure:`);
  const { page, close } = await openBenchPage();
  chromiumAdapter = await page.evaluate(() => window.supernetBench.adapter());
  const tuning = (chromiumTuning = await page.evaluate(() => window.supernetBench.autotune()));
  console.log(`  ${chromiumAdapter}; autotune chose ${tuning.config.kernel} ${tuning.config.wg.join('×')}`);
  const chromiumBudget = tuning.gflops * 1e9 * dispatchSecondsTarget;
  for (const size of sizes) {
    const impls = (size <= slowSizeMax ? ['ours', 'naive', 'tfjs', 'jax'] : ['ours', 'tfjs', 'jax']).filter((impl) => {
      const before = find(size / 2, impl as Impl, 'chromium');
      if (!before || before.ms * 8 <= runMsMax) return true;
      skipped.push({ size, impl: impl as Impl, predictedMs: Math.round(before.ms * 8) });
      return false;
    }) as Impl[];
    const results = await page.evaluate(([size, impls, runs, config, budget]) => window.supernetBench.run(size, impls, runs, config, budget), [size, impls, runs, tuning.config, chromiumBudget] as const);
    for (const r of results) log({ size, impl: r.impl, host: 'chromium', gflops: gflops(size, r.ms), ms: r.ms, maxDispatchMs: r.maxDispatchMs });
  }
  await close();
}

let dawnAdapter = '', dawnTuning: Tuning | null = null;
if (hosts.includes('dawn')) {
  console.log('Dawn (WebGPU in Node):');
  const dawn = await openDawnDevice();
  dawnAdapter = dawn.adapter.description;
  const tuning = (dawnTuning = await autotuneMatmul(dawn.device));
  console.log(`  ${dawn.adapter.description} (features: ${dawn.features.join(', ')}); autotune chose ${tuning.config.kernel} ${tuning.config.wg.join('×')}`);
  for (const size of sizes) {
    const a = randomMatrix(size, size, 1), b = randomMatrix(size, size, 2);
    const options = { config: tuning.config, dispatchFlopsMax: tuning.gflops * 1e9 * dispatchSecondsTarget };
    const precisions: { host: Row['host']; precision: 'f32' | 'f16' }[] = [{ host: 'dawn', precision: 'f32' }, ...(f16 ? [{ host: 'dawn-f16' as const, precision: 'f16' as const }] : [])];
    for (const { host, precision } of precisions) {
      // Each run's dispatches added up (submit to done): the kernels' time without the host's
      // share (padding, upload, read-back), which is most of a run on a fast GPU.
      const stats: MatmulStats = { dispatches: 0, maxDispatchMs: 0 }, busy: number[] = [];
      const { ours } = await timeRuns(['ours'], runs, async () => {
        const run: MatmulStats = { dispatches: 0, maxDispatchMs: 0 };
        await matmulGpu(dawn.device, a, b, { ...options, precision, stats: run });
        busy.push(run.busyMs ?? 0);
        stats.maxDispatchMs = Math.max(stats.maxDispatchMs, run.maxDispatchMs);
      });
      log({ size, impl: 'ours', host, gflops: gflops(size, ours!), ms: ours!, maxDispatchMs: stats.maxDispatchMs, kernelGflops: gflops(size, median(busy)) });
    }
  }
  if (f16) console.log(`  f16: ${matmulConfigF16(dawn.device, tuning.config).kernel}`);
  dawn.device.destroy();
}

if (hosts.includes('node')) {
  console.log('CPU reference (JS, one thread):');
  for (const size of sizes.filter((s) => s <= slowSizeMax)) {
    const a = randomMatrix(size, size, 1), b = randomMatrix(size, size, 2);
    const { cpu } = await timeRuns(['cpu'], runs, async () => matmulReference(a, b));
    log({ size, impl: 'cpu', host: 'node', gflops: gflops(size, cpu!), ms: cpu!, maxDispatchMs: null });
  }
}

const device = [chromiumAdapter && `${chromiumAdapter} (Chromium)`, dawnAdapter && `${dawnAdapter} (Dawn)`].filter(Boolean).join(' / ') + `, ${cpus().length} CPU cores`;
const tuned = (t: typeof dawnTuning) => (t ? `${t.config.kernel} ${t.config.wg.join('×')}` : 'not run');
const longest = Math.max(0, ...rows.filter((r) => r.impl === 'ours').map((r) => r.maxDispatchMs ?? 0));
const seconds = (performance.now() - started) / 1000;
const result = {
  device,
  date: new Date().toISOString(),
  runs,
  tuning: { chromium: chromiumTuning?.config ?? null, dawn: dawnTuning?.config ?? null },
  peakGflops,
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
  `Autotune: ${tuned(chromiumTuning)} in Chromium, ${tuned(dawnTuning)} in Dawn.`,
  '',
  `| size | ours (Chromium) | naive (Chromium) | TF.js WebGPU (Chromium) | jax-js WebGPU (Chromium) | ours ÷ TF.js | ours ÷ jax-js | ours (Dawn) | ours, dispatches alone (Dawn) |${peakGflops ? ' share of fp32 peak (Dawn, dispatches alone) |' : ''}${f16 ? ' ours, f16 inputs (Dawn) | f16 inputs, dispatches alone (Dawn) |' : ''} CPU reference (JS) |`,
  `| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |${peakGflops ? ' ---: |' : ''}${f16 ? ' ---: | ---: |' : ''} ---: |`,
  ...sizes.map((s) => {
    const ours = find(s, 'ours', 'chromium'), tfjs = find(s, 'tfjs', 'chromium'), jax = find(s, 'jax', 'chromium');
    const ratio = (other: Row | undefined) => (ours && other ? `${(ours.gflops / other.gflops).toFixed(1)}×` : '—');
    const dawn = find(s, 'ours', 'dawn'), half = find(s, 'ours', 'dawn-f16');
    const alone = (r: Row | undefined) => (r?.kernelGflops ? r.kernelGflops.toFixed(2) : '—');
    const share = peakGflops ? ` ${dawn?.kernelGflops ? `${((100 * dawn.kernelGflops) / peakGflops).toFixed(1)}%` : '—'} |` : '';
    const halves = f16 ? ` ${cell(half)} | ${alone(half)} |` : '';
    return `| ${s} | ${cell(ours)} | ${cell(find(s, 'naive', 'chromium'))} | ${cell(tfjs)} | ${cell(jax)} | ${ratio(tfjs)} | ${ratio(jax)} | ${cell(dawn)} | ${alone(dawn)} |${share}${halves} ${cell(find(s, 'cpu', 'node'))} |`;
  }),
  '',
  ...(peakGflops ? [`fp32 peak given: ${peakGflops} GFLOP/s (BENCH_PEAK_GFLOPS).`] : []),
  '"Dispatches alone": the same runs\' FLOPs over their dispatches\' time, submit to done as the host saw it (a run also pads, uploads and reads back).',
  `Longest single dispatch of ours: ${longest.toFixed(0)} ms (bound: 1000 ms; each node aims at ${dispatchSecondsTarget * 1000} ms of work per dispatch).`,
  `Naive and CPU are measured up to ${slowSizeMax}² (at 2048² they would take minutes per run here). The bench took ${seconds.toFixed(0)} s.`,
  ...skipped.map((k) => `Not measured: ${k.impl} at ${k.size}², about ${(k.predictedMs / 1000).toFixed(0)} s a run (over ${runMsMax / 1000} s: the bench must end within 5 minutes).`),
  '',
].join('\n');
const dir = resolve(import.meta.dirname, 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(resolve(dir, `${outName}.json`), JSON.stringify(result, null, 2) + '\n');
writeFileSync(resolve(dir, `${outName}.md`), md);
console.log('\n' + md);
process.exit(0);
