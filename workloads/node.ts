import type { Tuning } from './matmul/autotune.ts';
import { dispatchSecondsTarget, matmulGpu, type MatmulConfig } from './matmul/index.ts';
import type { Pacer } from './pacer.ts';
import { encodeNpy, parseNpy } from './npy.ts';

/** A device and what calibration learned about it. */
export interface GpuContext {
  device: GPUDevice;
  matmul: MatmulConfig;
  /** Work per dispatch that keeps each one near `dispatchSecondsTarget` on this device. */
  dispatchFlopsMax: number;
  /** The node's throttle, where it has one. */
  pacer?: Pacer;
}

export function gpuContext(device: GPUDevice, tuning: Tuning, pacer?: Pacer): GpuContext {
  return { device, matmul: tuning.config, dispatchFlopsMax: Math.max(1e6, tuning.gflops * 1e9 * dispatchSecondsTarget), pacer };
}

/** Runs one unit of a kind: input blobs in, the output blob's bytes out. */
export type UnitKernel = (gpu: GpuContext, inputs: Uint8Array[], params: Record<string, unknown>) => Promise<Uint8Array>;

/** Every kind a node can run, by kind. The coordinator's registry has the other half. */
export const kernels: Record<string, UnitKernel> = {
  async matmul(gpu, [a, b]) {
    if (!a || !b) throw new Error('a matmul unit needs two inputs: the A panel and the B panel');
    const [ma, mb] = [parseNpy(a), parseNpy(b)];
    // Float16 panels (a job of precision f16) go to the f16 kernel; its sums are float32 too.
    const precision = ma.dtype === 'f2' && mb.dtype === 'f2' ? 'f16' : 'f32';
    const c = await matmulGpu(gpu.device, ma, mb, { config: gpu.matmul, precision, dispatchFlopsMax: gpu.dispatchFlopsMax, pacer: gpu.pacer });
    return encodeNpy(c);
  },
};
