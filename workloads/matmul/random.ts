import type { Matrix } from '../../shaders/npy.ts';
import { mulberry32 } from '../../shaders/random.ts';

/**
 * A deterministic matrix with entries uniform in [-1, 1), from a 32-bit seed (mulberry32).
 * The `random` matmul spec and the tests make their inputs with it.
 */
export function randomMatrix(rows: number, cols: number, seed: number): Matrix {
  const next = mulberry32(seed);
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = next() * 2 - 1;
  return { rows, cols, data };
}

/** The inputs of a matmul `random` spec: A from the seed, B from the seed mixed with a constant. */
export function randomInputs(m: number, k: number, n: number, seed: number): [Matrix, Matrix] {
  return [randomMatrix(m, k, seed), randomMatrix(k, n, (seed ^ 0x9e3779b9) >>> 0)];
}
