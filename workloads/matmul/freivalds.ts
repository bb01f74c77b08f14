import type { Matrix } from '../../shaders/npy.ts';

/**
 * Freivalds' check of a matmul tile: is C = A·B, for A r×K, B K×c, C r×c?
 * With a vector x of random signs, compare C·x with A·(B·x) row by row: O(rc + Kc + rK)
 * per vector instead of the O(rKc) of redoing the product. x is drawn by the coordinator
 * after the result is in, so a node cannot tune a lie to it.
 *
 * Tolerance. C came from float32 arithmetic, so C·x and A·(B·x) (evaluated here in float64)
 * differ even for an honest node. Model: an honest element's error is at most about
 * u·√K·‖A_i‖·‖B_j‖ (u = 2⁻²⁴: rounding errors of K products and sums, growing like √K, the
 * products bounded by Cauchy-Schwarz), plus the final rounding u·|C_ij|. Under random signs
 * the row's errors add in quadrature, so the honest part of row i is within
 *   t_i = F · u · (√K · ‖A_i‖ · ‖B‖_F + ‖C_i‖),   F = 16.
 * Measured: f32 kernels with forward, reverse, pairwise and FMA-style sums, on signed,
 * all-positive and badly scaled data, stay below 1/20 of t_i (0.049 at worst over 10,000
 * tiles in tests/unit/freivalds.test.ts, 0 false alarms). On positive data recursive summation errs like K^1.5, not
 * √K; the model still holds there (the norms grow alike), with a smaller margin.
 * (The worst-case bound γ_K·Σ_j(|A||B|)_ij is rigorous but ~c·√K times looser: it would pass
 * a 1% bias on every element of a 128×128 tile at K=1024.)
 *
 * What it catches. A row is flagged when |(C·x − A·(B·x))_i| > t_i.
 * - One wrong element, off by more than 2·t_i: caught by every vector, with certainty
 *   (|δ·x_j| = |δ| > 2·t_i, and the honest part is within t_i).
 * - Any lie E with an element |E_ij| > 2·t_i: one vector misses it with probability ≤ 1/2
 *   (flip x_j: (E·x)_i moves by 2|E_ij| > 4·t_i, and a miss needs it within a window of
 *   width 4·t_i, so at most one of the two signs misses). With k vectors: ≤ 2⁻ᵏ.
 * We use k = 20: a false accept ≤ 2⁻²⁰ ≈ 1e-6 per lying unit, for the first lie a node tells.
 *
 * Cost here: 20·(rK + Kc + rc) multiply-adds, about 6% of the unit's own 2rKc FLOPs for a
 * 128×128 tile at any K (20·(1/c + 1/r)/2), done in JS on the coordinator (~5 ms at K=1024).
 */
export const freivaldsVectors = 20;
export const freivaldsSafety = 16;
const u = 2 ** -24;

export interface FreivaldsOutcome {
  ok: boolean;
  /** The largest |(Cx − ABx)_i| / t_i seen: < 1 passes. */
  worst: number;
}

/** The tolerance t_i of each row, as derived above. */
export function freivaldsTolerance(a: Matrix, b: Matrix, c: Matrix): Float64Array {
  const K = a.cols;
  let frobB = 0;
  for (const v of b.data) frobB += v * v;
  frobB = Math.sqrt(frobB);
  const t = new Float64Array(a.rows);
  for (let i = 0; i < a.rows; i++) {
    let rowA = 0, rowC = 0;
    for (let p = 0; p < K; p++) rowA += a.data[i * K + p]! ** 2;
    for (let j = 0; j < c.cols; j++) rowC += c.data[i * c.cols + j]! ** 2;
    t[i] = freivaldsSafety * u * (Math.sqrt(K) * Math.sqrt(rowA) * frobB + Math.sqrt(rowC));
  }
  return t;
}

/** Random signs, ±1: vector v's j-th from bit v·n + j of `bits`. */
function signs(bits: Uint8Array, v: number, n: number, x: Float64Array): Float64Array {
  for (let j = 0, b = v * n; j < n; j++, b++) x[j] = (bits[b >> 3]! >> (b & 7)) & 1 ? 1 : -1;
  return x;
}

export function freivaldsCheck(a: Matrix, b: Matrix, c: Matrix, randomBytes: (n: number) => Uint8Array, vectors = freivaldsVectors): FreivaldsOutcome {
  const r = a.rows, K = a.cols, n = b.cols;
  if (b.rows !== K || c.rows !== r || c.cols !== n) return { ok: false, worst: Infinity };
  const t = freivaldsTolerance(a, b, c);
  const bx = new Float64Array(K);
  // Every vector's signs in one draw (crypto-grade on the coordinator): a draw per vector cost
  // more than the check itself on small tiles.
  const bits = randomBytes(Math.ceil((n * vectors) / 8));
  const x = new Float64Array(n);
  let worst = 0;
  for (let v = 0; v < vectors; v++) {
    signs(bits, v, n, x);
    for (let p = 0; p < K; p++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += b.data[p * n + j]! * x[j]!;
      bx[p] = s;
    }
    for (let i = 0; i < r; i++) {
      let abx = 0, cx = 0;
      for (let p = 0; p < K; p++) abx += a.data[i * K + p]! * bx[p]!;
      for (let j = 0; j < n; j++) cx += c.data[i * n + j]! * x[j]!;
      const ratio = Math.abs(cx - abx) / t[i]!;
      if (!(ratio <= 1)) return { ok: false, worst: Number.isNaN(ratio) ? Infinity : ratio };
      worst = Math.max(worst, ratio);
    }
  }
  return { ok: true, worst };
}
