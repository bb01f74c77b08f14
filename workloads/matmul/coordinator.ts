import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { encodeNpy, NpyError, parseNpy, type Matrix } from '../../shaders/npy.ts';
import type { BlobStore } from '../../server/blobs/store.ts';
import { badRequest } from '../../server/errors.ts';
import { randomInputs } from './random.ts';
import { freivaldsCheck } from './freivalds.ts';
import type { Workload } from '../types.ts';

/**
 * matmul: C = A·B for float32 matrices.
 * Sharded by output tiles: unit (i, j) computes C[i-th row band, j-th column band] from
 * A's i-th row panel and B's j-th column panel. Panels are blobs of their own, so a node
 * that runs several units of a row (or column) fetches that panel once.
 */

const sha = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 of an uploaded blob (64 hex digits)');
const dim = z.number().int().min(1).max(16384);
/** Rows and columns of C per unit. 128² keeps a unit near 2·128²·K FLOPs: 34 MFLOP at K=1024. */
export const tileDefault = 128;
const tile = z.number().int().min(8).max(2048).optional();
/**
 * 'f16': A and B are rounded to float16 (nearest even) when the job is sharded, panels travel
 * at half the bytes, and kernels read halves and sum in float32. C = A₁₆·B₁₆ to float32
 * accuracy, so Freivalds' check and replica agreement hold as they are (tests/unit/freivalds.test.ts).
 */
const precision = z.enum(['f32', 'f16']).optional();
const elementsMax = 2 ** 26; // 256 MiB of float32 per matrix
const unitsMax = 20_000;

export const matmulSpec = z.union([
  z.object({ a: sha, b: sha, tile, precision }).strict(),
  z.object({ random: z.object({ m: dim, k: dim, n: dim, seed: z.number().int().min(0).max(2 ** 32 - 1) }).strict(), tile, precision }).strict(),
]);
export type MatmulSpec = z.infer<typeof matmulSpec>;

export interface MatmulUnitParams {
  row0: number;
  col0: number;
  rows: number;
  cols: number;
  k: number;
  precision: 'f32' | 'f16';
}

/**
 * Agreement of two float32 results of one unit, element by element:
 *   |x − y| ≤ 4·K·2⁻²⁴ · (max(|x|, |y|) + max|C_tile|)
 * Why: summing K products in float32 errs by at most about K·2⁻²⁴·Σ|a·b| (the classic
 * γ_K bound); two honest kernels that sum in different orders differ by at most twice that.
 * Σ|a·b| is not known without redoing the O(K) work per element, so the tile's largest
 * entry stands in for its scale (it also covers cancellation, where C_ij ≈ 0 but the
 * products are not). Rounding errors of real kernels grow like √K·2⁻²⁴, so the factor 4·K
 * leaves a wide margin for honest nodes, while a lie of a few parts in 10⁴ of the tile's
 * scale in any single element is caught. NaN or ±∞ never agrees.
 */
export function tilesAgree(x: Float32Array, y: Float32Array, k: number): boolean {
  if (x.length !== y.length) return false;
  let scale = 0;
  for (let i = 0; i < x.length; i++) scale = Math.max(scale, Math.abs(x[i]!), Math.abs(y[i]!));
  if (!Number.isFinite(scale)) return false;
  const u = 4 * k * 2 ** -24;
  for (let i = 0; i < x.length; i++) {
    const a = x[i]!, b = y[i]!;
    if (!(Math.abs(a - b) <= u * (Math.max(Math.abs(a), Math.abs(b)) + scale))) return false;
  }
  return true;
}

function readMatrix(bytes: Uint8Array, name: string): Matrix {
  try {
    return parseNpy(bytes);
  } catch (err) {
    if (err instanceof NpyError) throw badRequest(`spec.${name}: ${err.message}.`, 'bad_npy');
    throw err;
  }
}

async function inputs(spec: MatmulSpec, blobs: BlobStore): Promise<[Matrix, Matrix]> {
  if ('random' in spec) {
    const { m, k, n, seed } = spec.random;
    if (m * k > elementsMax || k * n > elementsMax || m * n > elementsMax) {
      throw badRequest(`spec.random: each matrix may hold at most ${elementsMax} elements.`);
    }
    return randomInputs(m, k, n, seed);
  }
  return [readMatrix(await blobs.read(spec.a), 'a'), readMatrix(await blobs.read(spec.b), 'b')];
}

const bands = (size: number, step: number) => Array.from({ length: Math.ceil(size / step) }, (_, i) => [i * step, Math.min(size, (i + 1) * step)] as const);

export const matmul: Workload<MatmulSpec> = {
  kind: 'matmul',
  description: 'C = A·B for float32 matrices given as .npy blobs (or made from a seed); precision "f16" rounds A and B to float16 (half the bytes to move, sums still float32). The result is C as a float32 .npy.',
  specSchema: matmulSpec,
  examples: [{ random: { m: 256, k: 512, n: 384, seed: 1 } }, { random: { m: 64, k: 64, n: 64, seed: 7 }, tile: 32 }, { random: { m: 128, k: 256, n: 128, seed: 3 }, precision: 'f16' }],

  async shard(spec, blobs, accountId) {
    const [a, b] = await inputs(spec, blobs);
    if (a.cols !== b.rows) {
      throw badRequest(`The shapes do not fit: A is ${a.rows}×${a.cols} and B is ${b.rows}×${b.cols}; A's columns must equal B's rows.`, 'shape_mismatch');
    }
    const m = a.rows, k = a.cols, n = b.cols;
    const t = spec.tile ?? tileDefault;
    const dtype = spec.precision === 'f16' ? 'f2' : 'f4';
    const rowBands = bands(m, t), colBands = bands(n, t);
    if (rowBands.length * colBands.length > unitsMax) throw badRequest(`That makes over ${unitsMax} units: choose a larger spec.tile.`);
    // Each side's panels stored together: small ones in one statement (BlobStore.putMany).
    const aPanels = (await blobs.putMany(rowBands.map(([r0, r1]) => encodeNpy({ rows: r1 - r0, cols: k, data: a.data.subarray(r0 * k, r1 * k) }, dtype)), accountId)).map((p) => p.sha256);
    const bPanels = (
      await blobs.putMany(
        colBands.map(([c0, c1]) => {
          const cols = c1 - c0;
          const data = new Float32Array(k * cols);
          for (let p = 0; p < k; p++) data.set(b.data.subarray(p * n + c0, p * n + c1), p * cols);
          return encodeNpy({ rows: k, cols, data }, dtype);
        }),
        accountId,
      )
    ).map((p) => p.sha256);
    const units = rowBands.flatMap(([r0, r1], i) =>
      colBands.map(([c0, c1], j) => {
        const params: MatmulUnitParams = { row0: r0, col0: c0, rows: r1 - r0, cols: c1 - c0, k, precision: spec.precision ?? 'f32' };
        return { params: { ...params }, inputs: [aPanels[i]!, bPanels[j]!], flops: 2 * params.rows * params.cols * k };
      }),
    );
    return { plan: { m, k, n, tile: t, precision: spec.precision ?? 'f32' }, units, flops: 2 * m * k * n };
  },

  malformed(params, result) {
    const { rows, cols } = params as unknown as MatmulUnitParams;
    try {
      const c = parseNpy(result);
      if (c.dtype === 'f2') return 'the result is float16; C is float32 at every precision';
      return c.rows === rows && c.cols === cols ? null : `the result is ${c.rows}×${c.cols}, the unit asked for ${rows}×${cols}`;
    } catch (err) {
      return `the result is not a float32 .npy (${(err as Error).message})`;
    }
  },

  check(_params, [a, b], result) {
    return freivaldsCheck(parseNpy(a!), parseNpy(b!), parseNpy(result), randomBytes).ok;
  },

  agree(params, x, y) {
    return tilesAgree(parseNpy(x).data, parseNpy(y).data, (params as unknown as MatmulUnitParams).k);
  },

  grid(plan) {
    const { m, n, tile } = plan as { m: number; n: number; tile: number };
    return { rows: Math.ceil(m / tile), cols: Math.ceil(n / tile) };
  },

  assemble(plan, units) {
    const { m, n } = plan as { m: number; n: number };
    const c = new Float32Array(m * n);
    for (const unit of units) {
      const { row0, col0, rows, cols } = unit.params as unknown as MatmulUnitParams;
      const tile = parseNpy(unit.result).data;
      for (let r = 0; r < rows; r++) c.set(tile.subarray(r * cols, (r + 1) * cols), (row0 + r) * n + col0);
    }
    return { bytes: encodeNpy({ rows: m, cols: n, data: c }), contentType: 'application/octet-stream', extension: 'npy' };
  },
};
