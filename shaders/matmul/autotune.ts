import type { Matrix } from '../npy.ts';
import { matmulCandidates, matmulGpu, type MatmulConfig } from './index.ts';

export interface Tuning {
  config: MatmulConfig;
  /** GFLOP/s of that config in the trial. */
  gflops: number;
  trials: { config: MatmulConfig; gflops: number }[];
}

/**
 * Picks the fastest matmul config for this device: each candidate multiplies two 512²
 * matrices (after a warm-up that compiles its pipeline); the best of two runs counts.
 * About 2 s on SwiftShader here; far less on a GPU.
 */
export async function autotuneMatmul(device: GPUDevice, size = 512, candidates = matmulCandidates): Promise<Tuning> {
  const m: Matrix = { rows: size, cols: size, data: new Float32Array(size * size).fill(0.25) };
  const trials = [];
  for (const config of candidates) {
    await matmulGpu(device, { rows: 8, cols: 8, data: new Float32Array(64) }, { rows: 8, cols: 8, data: new Float32Array(64) }, { config });
    let best = Infinity;
    for (let i = 0; i < 2; i++) {
      const start = performance.now();
      await matmulGpu(device, m, m, { config, dispatchFlopsMax: Infinity });
      best = Math.min(best, performance.now() - start);
    }
    trials.push({ config, gflops: (2 * size ** 3) / (best / 1000) / 1e9 });
  }
  const winner = trials.reduce((x, y) => (y.gflops > x.gflops ? y : x));
  return { config: winner.config, gflops: winner.gflops, trials };
}
