import type { Matrix } from '../../shaders/npy.ts';

/**
 * A deterministic matrix with entries uniform in [-1, 1), from a 32-bit seed (mulberry32).
 * The `random` matmul spec and the tests make their inputs with it.
 */
export function randomMatrix(rows: number, cols: number, seed: number): Matrix {
  let state = seed >>> 0;
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    data[i] = (((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * 2 - 1;
  }
  return { rows, cols, data };
}
