import type { Matrix } from '../../shaders/npy.ts';

/** The CPU oracle: C = A·B in float64 accumulation, rounded to float32 once at the end. */
export function matmulReference(a: Matrix, b: Matrix): Matrix {
  if (a.cols !== b.rows) throw new Error(`cannot multiply ${a.rows}×${a.cols} by ${b.rows}×${b.cols}`);
  const { rows: m, cols: k } = a;
  const n = b.cols;
  const out = new Float32Array(m * n);
  const acc = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    acc.fill(0);
    for (let p = 0; p < k; p++) {
      const av = a.data[i * k + p]!;
      if (av === 0) continue;
      const rowB = p * n;
      for (let j = 0; j < n; j++) acc[j]! += av * b.data[rowB + j]!;
    }
    out.set(acc, i * n);
  }
  return { rows: m, cols: n, data: out };
}
