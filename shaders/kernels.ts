import { matmulGpu } from './matmul/index.ts';
import { encodeNpy, parseNpy } from './npy.ts';

/** Runs one unit of a kind on a device: input blobs in, the output blob's bytes out. */
export type UnitKernel = (device: GPUDevice, inputs: Uint8Array[], params: Record<string, unknown>) => Promise<Uint8Array>;

/** Every kind a node can run, by kind. The coordinator's registry has the other half. */
export const kernels: Record<string, UnitKernel> = {
  async matmul(device, [a, b]) {
    if (!a || !b) throw new Error('a matmul unit needs two inputs: the A panel and the B panel');
    return encodeNpy(await matmulGpu(device, parseNpy(a), parseNpy(b)));
  },
};

/** GFLOP/s of the matmul kernel on this device: a 256² product after one warm-up run. */
export async function calibrate(device: GPUDevice): Promise<number> {
  const size = 256;
  const m = { rows: size, cols: size, data: new Float32Array(size * size).fill(0.5) };
  await matmulGpu(device, m, m);
  const start = performance.now();
  await matmulGpu(device, m, m);
  const seconds = Math.max(1e-6, (performance.now() - start) / 1000);
  return (2 * size ** 3) / seconds / 1e9;
}
