import block4x4 from './block4x4.wgsl?raw';
import block8x4 from './block8x4.wgsl?raw';
import block8x8 from './block8x8.wgsl?raw';
import inputsF16 from './inputs-f16.wgsl?raw';
import inputsF16Packed from './inputs-f16-packed.wgsl?raw';
import inputsF32 from './inputs-f32.wgsl?raw';
import naive from './naive.wgsl?raw';
import quad12x8 from './quad12x8.wgsl?raw';
import quad16x4 from './quad16x4.wgsl?raw';
import quad24x4 from './quad24x4.wgsl?raw';

/**
 * The matmul kernels: WGSL source, the block of C one invocation computes, and the device
 * feature it needs. Blocked kernels read vec4s, so the runner pads m to `rows`, n to `cols`
 * and k to 4. Quad kernels share A through quadBroadcast and run in 1-D workgroups.
 * `input` is the element type of A and B: the f16 kernels take float16 panels (jobs that ask
 * for precision f16) and sum in float32, natively with shader-f16 or unpacked from u32 pairs.
 * block8x8 reads A and B through an inputs file (its three variants: one kernel body, WGSL
 * having no includes); measured on SwiftShader, the call costs nothing against inline reads.
 */
export const matmulKernels = {
  naive: { source: naive, rows: 1, cols: 1, padded: false, needs: null, input: 'f32' },
  block4x4: { source: block4x4, rows: 4, cols: 4, padded: true, needs: null, input: 'f32' },
  block8x4: { source: block8x4, rows: 8, cols: 4, padded: true, needs: null, input: 'f32' },
  block8x8: { source: inputsF32 + block8x8, rows: 8, cols: 8, padded: true, needs: null, input: 'f32' },
  quad16x4: { source: quad16x4, rows: 16, cols: 4, padded: true, needs: 'subgroups', input: 'f32' },
  quad12x8: { source: quad12x8, rows: 12, cols: 8, padded: true, needs: 'subgroups', input: 'f32' },
  quad24x4: { source: quad24x4, rows: 24, cols: 4, padded: true, needs: 'subgroups', input: 'f32' },
  block8x8f16: { source: inputsF16 + block8x8, rows: 8, cols: 8, padded: true, needs: 'shader-f16', input: 'f16' },
  block8x8f16packed: { source: inputsF16Packed + block8x8, rows: 8, cols: 8, padded: true, needs: null, input: 'f16' },
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
 * with A shared through quads: 16×4 5.7-6.4, 12×8 6.1-6.6, 24×4 6.8, 32×4 3.9, 16×8 4.7.
 * Workgroup shape moved results by less than the run-to-run noise. Real GPUs differ, so
 * every node measures for itself. Quad kernels need wg[1] = 1.
 */
export const matmulCandidates: MatmulConfig[] = [
  { kernel: 'quad24x4', wg: [64, 1] },
  { kernel: 'quad12x8', wg: [64, 1] },
  { kernel: 'quad16x4', wg: [64, 1] },
  { kernel: 'quad16x4', wg: [128, 1] },
  { kernel: 'block8x8', wg: [8, 8] },
  { kernel: 'block8x8', wg: [4, 16] },
  { kernel: 'block8x8', wg: [16, 16] },
  { kernel: 'block8x4', wg: [8, 8] },
  { kernel: 'block4x4', wg: [8, 8] },
  { kernel: 'block4x4', wg: [16, 16] },
];

/** The best kernel that needs no optional feature: what runs before autotune has spoken. */
export const matmulConfigDefault: MatmulConfig = { kernel: 'block8x8', wg: [8, 8] };

/**
 * The kernel for float16 panels: native f16 loads where the device has shader-f16, unpacked
 * u32 pairs elsewhere. Not autotuned (f16 jobs are opt-in and rare); both read the same bytes.
 */
export const matmulConfigF16 = (device: GPUDevice): MatmulConfig => ({ kernel: device.features.has('shader-f16') ? 'block8x8f16' : 'block8x8f16packed', wg: [8, 8] });

/** The optional features our kernels use, of those the adapter has: ask for them with the device. */
export const usefulFeatures = (adapter: GPUAdapter): GPUFeatureName[] => (['subgroups', 'shader-f16'] as GPUFeatureName[]).filter((f) => adapter.features.has(f));

/** Whether a device can run a config's kernel. */
export const canRun = (device: GPUDevice, config: MatmulConfig) => {
  const needs = matmulKernels[config.kernel].needs;
  return needs === null || device.features.has(needs);
};
export const matmulConfigNaive: MatmulConfig = { kernel: 'naive', wg: [8, 8] };
