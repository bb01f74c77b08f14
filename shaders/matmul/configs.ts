import block4x4 from './block4x4.wgsl?raw';
import block8x4 from './block8x4.wgsl?raw';
import block8x8 from './block8x8.wgsl?raw';
import naive from './naive.wgsl?raw';

/**
 * The matmul kernels: WGSL source and the block of C one invocation computes. Blocked
 * kernels read vec4s, so the runner pads m to `rows`, n to `cols` and k to 4.
 */
export const matmulKernels = {
  naive: { source: naive, rows: 1, cols: 1, padded: false },
  block4x4: { source: block4x4, rows: 4, cols: 4, padded: true },
  block8x4: { source: block8x4, rows: 8, cols: 4, padded: true },
  block8x8: { source: block8x8, rows: 8, cols: 8, padded: true },
} as const;

export type MatmulKernelName = keyof typeof matmulKernels;

/** A kernel and its workgroup shape (x across C's columns, y down its rows). */
export interface MatmulConfig {
  kernel: MatmulKernelName;
  wg: [number, number];
}

/**
 * What autotune tries. Measured on SwiftShader here (Dawn, 1024², 2 cores, GFLOP/s):
 * 4×4 blocks 2.7, 8×4 3.5, 8×8 4.3-4.8, 8×16 and 16×8 2.9 (the accumulators spill);
 * workgroup shape moved results by less than the run-to-run noise. Real GPUs differ, so
 * every node measures for itself.
 */
export const matmulCandidates: MatmulConfig[] = [
  { kernel: 'block8x8', wg: [8, 8] },
  { kernel: 'block8x8', wg: [4, 16] },
  { kernel: 'block8x8', wg: [16, 16] },
  { kernel: 'block8x4', wg: [8, 8] },
  { kernel: 'block4x4', wg: [8, 8] },
  { kernel: 'block4x4', wg: [16, 16] },
];

export const matmulConfigDefault: MatmulConfig = { kernel: 'block8x8', wg: [8, 8] };
export const matmulConfigNaive: MatmulConfig = { kernel: 'naive', wg: [8, 8] };
