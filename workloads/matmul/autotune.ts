import type { Matrix } from '../../shaders/npy.ts';
import { canRun, compileMatmul, matmulCandidates, matmulGpu, type MatmulConfig } from './gpu.ts';
import { matmulReference } from './reference.ts';

export interface Tuning {
  config: MatmulConfig;
  /** GFLOP/s of that config in the trial. */
  gflops: number;
  trials: { config: MatmulConfig; gflops: number }[];
}

/** Deterministic test data with entries in [-1, 1). */
const filled = (rows: number, cols: number, seed: number): Matrix => ({
  rows,
  cols,
  data: Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(seed * 7919 + i * 12.9898) % 1),
});

/** Whether a config computes a product with ragged edges right on this device. */
async function correct(device: GPUDevice, config: MatmulConfig): Promise<boolean> {
  const a = filled(37, 29, 1), b = filled(29, 45, 2);
  const got = await matmulGpu(device, a, b, { config });
  const want = matmulReference(a, b);
  return want.data.every((w, i) => Math.abs(w - got.data[i]!) <= 1e-4 * (1 + Math.abs(w)));
}

/** GFLOP/s of the better of `runs` products of two size² matrices. */
async function measure(device: GPUDevice, config: MatmulConfig, m: Matrix, runs: number): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await matmulGpu(device, m, m, { config, dispatchFlopsMax: Infinity });
    best = Math.min(best, performance.now() - start);
  }
  return (2 * m.rows ** 3) / (best / 1000) / 1e9;
}

/** How many of the first round's best get a second run. */
const finalists = 3;

/**
 * Picks the fastest matmul config this device runs correctly: each candidate it can run
 * is first checked on a ragged product against the CPU reference (a kernel that relies on
 * subgroup behaviour an adapter does not have is dropped, not trusted), then multiplies two
 * size² matrices; the best three multiply them once more, and the better run counts.
 * Measured on SwiftShader here (Dawn, 10 candidates, 512²): 5.2 s when every candidate ran
 * twice with its pipeline compiled as first used, 2.5 s of that compiling one by one. All
 * pipelines compiled at once, asynchronously, and second runs only for the finalists: 3.8 s.
 * (A first round at 256² was quicker but ranked wrongly: big blocks leave small products idle.)
 */
export async function autotuneMatmul(device: GPUDevice, size = 512, candidates = matmulCandidates): Promise<Tuning> {
  const runnable = candidates.filter((c) => canRun(device, c));
  await compileMatmul(device, runnable);
  const m = filled(size, size, 3);
  const trials: Tuning['trials'] = [];
  for (const config of runnable) {
    if (!(await correct(device, config).catch(() => false))) continue;
    trials.push({ config, gflops: await measure(device, config, m, 1) });
  }
  if (trials.length === 0) throw new Error('no matmul kernel runs correctly on this device');
  for (const trial of [...trials].sort((x, y) => y.gflops - x.gflops).slice(0, finalists)) {
    trial.gflops = Math.max(trial.gflops, await measure(device, trial.config, m, 1));
  }
  const winner = trials.reduce((x, y) => (y.gflops > x.gflops ? y : x));
  return { config: winner.config, gflops: winner.gflops, trials };
}
