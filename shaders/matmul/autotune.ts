import type { Matrix } from '../npy.ts';
import { canRun, matmulCandidates, matmulGpu, type MatmulConfig } from './index.ts';
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

/**
 * Picks the fastest matmul config this device runs correctly: each candidate it can run
 * is first checked on a ragged product against the CPU reference (a kernel that relies on
 * subgroup behaviour an adapter does not have is dropped, not trusted), then multiplies two
 * 512² matrices twice; the better run counts. About 3 s on SwiftShader here.
 */
export async function autotuneMatmul(device: GPUDevice, size = 512, candidates = matmulCandidates): Promise<Tuning> {
  const m = filled(size, size, 3);
  const trials = [];
  for (const config of candidates.filter((c) => canRun(device, c))) {
    if (!(await correct(device, config).catch(() => false))) continue;
    let best = Infinity;
    for (let i = 0; i < 2; i++) {
      const start = performance.now();
      await matmulGpu(device, m, m, { config, dispatchFlopsMax: Infinity });
      best = Math.min(best, performance.now() - start);
    }
    trials.push({ config, gflops: (2 * size ** 3) / (best / 1000) / 1e9 });
  }
  if (trials.length === 0) throw new Error('no matmul kernel runs correctly on this device');
  const winner = trials.reduce((x, y) => (y.gflops > x.gflops ? y : x));
  return { config: winner.config, gflops: winner.gflops, trials };
}
