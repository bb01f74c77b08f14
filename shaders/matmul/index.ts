import type { Matrix } from '../npy.ts';
import naiveSource from './naive.wgsl?raw';

/**
 * Runs C = A·B on a GPUDevice. No DOM and no Node APIs: the browser worker, the Dawn agent
 * and the tests all call this.
 *
 * Watchdog budget: a dispatch must end well within a second on the slowest adapter we
 * serve (Chrome kills a device at 15 s, Windows resets the GPU at 2 s). The naive kernel
 * runs at 0.35 GFLOP/s on SwiftShader here (1024², 2 cores), so by default one dispatch
 * does at most 256 MFLOP (~0.7 s there); longer products are split over K.
 */
export const dispatchFlopsMaxDefault = 256e6;

export interface MatmulOptions {
  dispatchFlopsMax?: number;
}

const pipelines = new WeakMap<GPUDevice, GPUComputePipeline>();

function pipelineFor(device: GPUDevice): GPUComputePipeline {
  let pipeline = pipelines.get(device);
  if (!pipeline) {
    const module = device.createShaderModule({ label: 'matmul/naive', code: naiveSource });
    pipeline = device.createComputePipeline({ label: 'matmul/naive', layout: 'auto', compute: { module, entryPoint: 'main' } });
    pipelines.set(device, pipeline);
  }
  return pipeline;
}

export async function matmulGpu(device: GPUDevice, a: Matrix, b: Matrix, options: MatmulOptions = {}): Promise<Matrix> {
  if (a.cols !== b.rows) throw new Error(`cannot multiply ${a.rows}×${a.cols} by ${b.rows}×${b.cols}`);
  const m = a.rows, k = a.cols, n = b.cols;
  const flopsMax = options.dispatchFlopsMax ?? dispatchFlopsMaxDefault;
  const kChunk = Math.max(1, Math.min(k, Math.floor(flopsMax / (2 * m * n))));
  const created: GPUBuffer[] = [];
  const buffer = (label: string, size: number, usage: number) => {
    const made = device.createBuffer({ label, size: Math.max(16, Math.ceil(size / 16) * 16), usage });
    created.push(made);
    return made;
  };
  device.pushErrorScope('validation');
  device.pushErrorScope('out-of-memory');
  try {
    const S = GPUBufferUsage;
    const bufA = buffer('matmul/a', a.data.byteLength, S.STORAGE | S.COPY_DST);
    const bufB = buffer('matmul/b', b.data.byteLength, S.STORAGE | S.COPY_DST);
    const bufC = buffer('matmul/c', m * n * 4, S.STORAGE | S.COPY_SRC);
    const read = buffer('matmul/read', m * n * 4, S.MAP_READ | S.COPY_DST);
    device.queue.writeBuffer(bufA, 0, a.data.buffer, a.data.byteOffset, a.data.byteLength);
    device.queue.writeBuffer(bufB, 0, b.data.buffer, b.data.byteOffset, b.data.byteLength);
    const pipeline = pipelineFor(device);
    for (let k0 = 0; k0 < k; k0 += kChunk) {
      const dims = buffer('matmul/dims', 32, S.UNIFORM | S.COPY_DST);
      device.queue.writeBuffer(dims, 0, new Uint32Array([m, k, n, k0, Math.min(k, k0 + kChunk), 0, 0, 0]));
      const bind = device.createBindGroup({
        label: 'matmul/bind',
        layout: pipeline.getBindGroupLayout(0),
        entries: [bufA, bufB, bufC, dims].map((b, binding) => ({ binding, resource: { buffer: b } })),
      });
      const encoder = device.createCommandEncoder({ label: 'matmul' });
      const pass = encoder.beginComputePass({ label: 'matmul' });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(Math.ceil(n / 8), Math.ceil(m / 8));
      pass.end();
      if (k0 + kChunk >= k) encoder.copyBufferToBuffer(bufC, 0, read, 0, m * n * 4);
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
    }
    await read.mapAsync(GPUMapMode.READ);
    const data = new Float32Array(read.getMappedRange().slice(0, m * n * 4));
    read.unmap();
    return { rows: m, cols: n, data };
  } finally {
    const [oom, validation] = [await device.popErrorScope(), await device.popErrorScope()];
    for (const made of created) made.destroy();
    const error = validation ?? oom;
    if (error) throw new Error(`matmul kernel failed on the GPU: ${error.message}`);
  }
}
