import { expect } from 'vitest';
import type { Matrix } from '../../shaders/npy.ts';
import { matmulReference } from '../../workloads/matmul/reference.ts';
import { randomInputs } from '../../workloads/matmul/random.ts';

/**
 * Asserts two float32 products agree: every element within 4·K·2⁻²⁴ of the larger
 * magnitude plus the same share of the matrix's largest entry (the f32 dot-product bound,
 * with the max-entry term covering cancellation). Inputs in [-1, 1) keep this tight.
 */
export function expectClose(got: Matrix, want: Matrix, k: number) {
  expect([got.rows, got.cols]).toEqual([want.rows, want.cols]);
  const u = 4 * Math.max(1, k) * 2 ** -24;
  let scale = 0;
  for (const v of want.data) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  let where = -1;
  for (let i = 0; i < want.data.length; i++) {
    const x = got.data[i]!, y = want.data[i]!;
    const excess = Math.abs(x - y) - u * (Math.max(Math.abs(x), Math.abs(y)) + scale);
    if (!(excess <= worst) ) {
      worst = Number.isNaN(excess) ? Infinity : excess;
      where = i;
    }
  }
  expect(where, `element ${where}: got ${got.data[where]}, want ${want.data[where]}`).toBe(-1);
}

/** The CPU reference result of a matmul `{ random: { m, k, n, seed } }` spec. */
export const randomSpecReference = (m: number, k: number, n: number, seed: number) => matmulReference(...randomInputs(m, k, n, seed));
