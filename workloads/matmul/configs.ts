import block4x4 from './block4x4.wgsl?raw';
import block8x4 from './block8x4.wgsl?raw';
import block8x8 from './block8x8.wgsl?raw';
import dims from './dims.wgsl?raw';
import inputsF16 from './inputs-f16.wgsl?raw';
import inputsF16Packed from './inputs-f16-packed.wgsl?raw';
import inputsF32 from './inputs-f32.wgsl?raw';
import naive from './naive.wgsl?raw';
import quad12x8 from './quad12x8.wgsl?raw';
import quad16x4 from './quad16x4.wgsl?raw';
import quad24x4 from './quad24x4.wgsl?raw';
import { swapKernel } from './swap.ts';

/**
 * The matmul kernels: WGSL source, the tile of C one invocation computes (`rows` × `cols`; for
 * swap kernels, which work as quads, the tile of a quad of `lanes` = 4 invocations), and the
 * device features it needs. Blocked kernels read vec4s, so the runner pads m to `rows`, n to
 * `cols` and k to 4. Kernels with `oneRow` run in 1-D workgroups (wgY = 1): quad kernels share
 * A through quadBroadcast, swap kernels A and B through quadSwapX/Y.
 * `input` is the element type of A and B: the f16 kernels take float16 panels (jobs that ask
 * for precision f16) and sum in float32, natively with shader-f16 or unpacked from u32 pairs.
 * block8x8 and the swap kernels read A and B through an inputs file (its variants: one kernel
 * body, WGSL having no includes); measured on SwiftShader, the call costs nothing against
 * inline reads. `wgsl` puts a module together: directives first (WGSL wants them there), then
 * the inputs file, then dims.wgsl (what the runner writes, the same for every kernel), then
 * the body.
 */
interface MatmulKernel {
  source: string;
  rows: number;
  cols: number;
  lanes: 1 | 4;
  padded: boolean;
  oneRow: boolean;
  needs: readonly GPUFeatureName[];
  input: 'f32' | 'f16';
}

const wgsl = (body: string, { inputs = '', subgroups = false } = {}) => (subgroups ? 'enable subgroups;\n' : '') + inputs + dims + body;

const plain = { lanes: 1, padded: true, oneRow: false, needs: [], input: 'f32' } as const;
const quad = { lanes: 1, padded: true, oneRow: true, needs: ['subgroups'], input: 'f32' } as const;
const swap = { lanes: 4, padded: true, oneRow: true, needs: ['subgroups'], input: 'f32' } as const;
const [swap12x8, swap16x8] = [swapKernel(12), swapKernel(16)];

export const matmulKernels = {
  naive: { ...plain, source: wgsl(naive), rows: 1, cols: 1, padded: false },
  block4x4: { ...plain, source: wgsl(block4x4), rows: 4, cols: 4 },
  block8x4: { ...plain, source: wgsl(block8x4), rows: 8, cols: 4 },
  block8x8: { ...plain, source: wgsl(block8x8, { inputs: inputsF32 }), rows: 8, cols: 8 },
  quad16x4: { ...quad, source: wgsl(quad16x4, { subgroups: true }), rows: 16, cols: 4 },
  quad12x8: { ...quad, source: wgsl(quad12x8, { subgroups: true }), rows: 12, cols: 8 },
  quad24x4: { ...quad, source: wgsl(quad24x4, { subgroups: true }), rows: 24, cols: 4 },
  swap12x8: { ...swap, source: wgsl(swap12x8, { inputs: inputsF32, subgroups: true }), rows: 24, cols: 16 },
  swap16x8: { ...swap, source: wgsl(swap16x8, { inputs: inputsF32, subgroups: true }), rows: 32, cols: 16 },
  block8x8f16: { ...plain, source: wgsl(block8x8, { inputs: inputsF16 }), rows: 8, cols: 8, needs: ['shader-f16'], input: 'f16' },
  block8x8f16packed: { ...plain, source: wgsl(block8x8, { inputs: inputsF16Packed }), rows: 8, cols: 8, input: 'f16' },
  swap12x8f16: { ...swap, source: wgsl(swap12x8, { inputs: inputsF16, subgroups: true }), rows: 24, cols: 16, needs: ['subgroups', 'shader-f16'], input: 'f16' },
  swap12x8f16packed: { ...swap, source: wgsl(swap12x8, { inputs: inputsF16Packed, subgroups: true }), rows: 24, cols: 16, input: 'f16' },
  swap16x8f16: { ...swap, source: wgsl(swap16x8, { inputs: inputsF16, subgroups: true }), rows: 32, cols: 16, needs: ['subgroups', 'shader-f16'], input: 'f16' },
  swap16x8f16packed: { ...swap, source: wgsl(swap16x8, { inputs: inputsF16Packed, subgroups: true }), rows: 32, cols: 16, input: 'f16' },
} satisfies Record<string, MatmulKernel>;

export type MatmulKernelName = keyof typeof matmulKernels;

/** A kernel and its workgroup shape (x across C's columns, y down its rows). */
export interface MatmulConfig {
  kernel: MatmulKernelName;
  wg: [number, number];
}

/**
 * What autotune tries. Measured on SwiftShader here (Dawn, 1024², 2 cores, GFLOP/s, 11-25):
 * 4×4 blocks 2.7, 8×4 3.5, 8×8 4.3-4.8, 8×16 and 16×8 2.9 (the accumulators spill);
 * with A shared through quads: 16×4 5.7-6.4, 12×8 6.1-6.6, 24×4 6.8, 32×4 3.9, 16×8 4.7.
 * On 12-02's slower machine, medians of 5 in one run: quad16x4 2.4-2.6, quad24x4 2.3, and
 * sharing A and B through swaps, swap16x8 3.5, swap12x8 3.5 (1.35× the best quad kernel).
 * Workgroup shape moved results by less than the run-to-run noise (block8x8 4×16 and block4x4
 * 16×16 were dropped for that). Real GPUs differ, so every node measures for itself. Quad
 * and swap kernels need wg[1] = 1.
 */
export const matmulCandidates: MatmulConfig[] = [
  { kernel: 'swap16x8', wg: [64, 1] },
  { kernel: 'swap12x8', wg: [64, 1] },
  { kernel: 'quad24x4', wg: [64, 1] },
  { kernel: 'quad12x8', wg: [64, 1] },
  { kernel: 'quad16x4', wg: [64, 1] },
  { kernel: 'quad16x4', wg: [128, 1] },
  { kernel: 'block8x8', wg: [8, 8] },
  { kernel: 'block8x8', wg: [16, 16] },
  { kernel: 'block8x4', wg: [8, 8] },
  { kernel: 'block4x4', wg: [8, 8] },
];

/** The best kernel that needs no optional feature: what runs before autotune has spoken. */
export const matmulConfigDefault: MatmulConfig = { kernel: 'block8x8', wg: [8, 8] };

/**
 * The kernel for float16 panels: native f16 loads where the device has shader-f16, unpacked
 * u32 pairs elsewhere (both read the same bytes). f16 jobs are opt-in and rare, so they are
 * not autotuned on their own: where autotune chose a swap kernel for float32, its f16 twin
 * runs (same tile, same loads, half the bytes); otherwise block8x8's.
 */
export function matmulConfigF16(device: GPUDevice, tuned?: MatmulConfig): MatmulConfig {
  const suffix = device.features.has('shader-f16') ? 'f16' : 'f16packed';
  const twin = `${tuned?.kernel}${suffix}`;
  if (tuned && twin in matmulKernels && canRun(device, { kernel: twin as MatmulKernelName, wg: tuned.wg })) return { kernel: twin as MatmulKernelName, wg: tuned.wg };
  return { kernel: `block8x8${suffix}`, wg: [8, 8] };
}

/** The optional features our kernels use, of those the adapter has: ask for them with the device. */
export const usefulFeatures = (adapter: GPUAdapter): GPUFeatureName[] => (['subgroups', 'shader-f16'] as GPUFeatureName[]).filter((f) => adapter.features.has(f));

/** Whether a device can run a config's kernel. */
export const canRun = (device: GPUDevice, config: MatmulConfig) => (matmulKernels[config.kernel].needs as readonly GPUFeatureName[]).every((f) => device.features.has(f));
export const matmulConfigNaive: MatmulConfig = { kernel: 'naive', wg: [8, 8] };
