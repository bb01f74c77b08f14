import { toHalves, type Matrix } from '../../shaders/npy.ts';
import type { Pacer } from '../../shaders/pacer.ts';
import { compile, runKernel, type Kernel, type RunStats } from '../../shaders/runner.ts';
import { matmulConfigDefault, matmulConfigF16, matmulKernels, type MatmulConfig } from './configs.ts';

export * from './configs.ts';

/**
 * Runs C = A·B on a GPUDevice through the one GPU runner (shaders/runner.ts), which owns the
 * pipelines, buffers, error scopes, dispatch budget, throttle and Dawn's rest: matmul is its
 * kernels' WGSL and this K loop (a dispatch sums [k0, k1) of K into C). Long products are split
 * over K into dispatches of at most `dispatchFlopsMax`.
 */
export { dispatchFlopsMaxDefault, dispatchSecondsTarget, restWhileGpuBusy } from '../../shaders/runner.ts';

export type MatmulStats = RunStats;

export interface MatmulOptions {
  /** The kernel for float32 inputs (autotune's choice). */
  config?: MatmulConfig;
  /**
   * 'f16': A and B go to the GPU as float16 (their values rounded to nearest even, exact for
   * float16 panels) and C is summed in float32; the kernel is matmulConfigF16's (the f16 twin
   * of `config` where it has one).
   */
  precision?: 'f32' | 'f16';
  dispatchFlopsMax?: number;
  /** Filled in with what the run did. */
  stats?: MatmulStats;
  /** The node's throttle: rests before each dispatch, hears how long each kept the GPU busy. */
  pacer?: Pacer;
}

const labelOf = ({ kernel, wg }: MatmulConfig) => `matmul/${kernel}/${wg[0]}x${wg[1]}`;

/** A config's kernel as the runner takes it. */
function kernelOf(config: MatmulConfig): Kernel {
  const { kernel, wg } = config;
  return { label: labelOf(config), code: matmulKernels[kernel].source, constants: matmulKernels[kernel].oneRow ? { wgX: wg[0] } : { wgX: wg[0], wgY: wg[1] } };
}

/**
 * Compiles the configs' pipelines at once, asynchronously, into the cache matmulGpu uses. A
 * config that fails to compile is left out; matmulGpu then reports it when it is used.
 */
export async function compileMatmul(device: GPUDevice, configs: MatmulConfig[]): Promise<void> {
  await compile(device, configs.map(kernelOf));
}

/** Copies `m` into a zeroed rows×cols matrix (no copy when it already has that shape), as float16 bits for f16 kernels. */
function padded(m: Matrix, rows: number, cols: number, input: 'f32' | 'f16'): Float32Array | Uint16Array {
  const data = input === 'f16' ? toHalves(m.data) : m.data;
  if (m.rows === rows && m.cols === cols) return data;
  const out = input === 'f16' ? new Uint16Array(rows * cols) : new Float32Array(rows * cols);
  for (let r = 0; r < m.rows; r++) out.set(data.subarray(r * m.cols, (r + 1) * m.cols), r * cols);
  return out;
}

const roundUp = (x: number, step: number) => Math.ceil(x / step) * step;

export async function matmulGpu(device: GPUDevice, a: Matrix, b: Matrix, options: MatmulOptions = {}): Promise<Matrix> {
  if (a.cols !== b.rows) throw new Error(`cannot multiply ${a.rows}×${a.cols} by ${b.rows}×${b.cols}`);
  const config = options.precision === 'f16' ? matmulConfigF16(device, options.config) : (options.config ?? matmulConfigDefault);
  const kernel = matmulKernels[config.kernel];
  const m = a.rows, k = a.cols, n = b.cols;
  const [mp, kp, np] = kernel.padded ? [roundUp(m, kernel.rows), roundUp(k, 4), roundUp(n, kernel.cols)] : [m, k, n];
  const [out] = await runKernel(
    device,
    {
      kernel: kernelOf(config),
      inputs: [
        { label: 'a', data: padded(a, mp, kp, kernel.input) },
        { label: 'b', data: padded(b, kp, np, kernel.input) },
      ],
      outputs: [{ label: 'c', bytes: mp * np * 4 }],
      groups: [Math.ceil((np / kernel.cols) * kernel.lanes / config.wg[0]), Math.ceil(mp / kernel.rows / config.wg[1])],
      split: { length: kp, step: kernel.padded ? 4 : 1, flopsPerStep: 2 * mp * np, uniforms: (k0, k1) => new Uint32Array([mp, kp, np, k0, k1, 0, 0, 0]) },
    },
    options,
  );
  const c = new Float32Array(out!);
  const data = new Float32Array(m * n);
  for (let r = 0; r < m; r++) data.set(c.subarray(r * np, r * np + n), r * n);
  return { rows: m, cols: n, data };
}
