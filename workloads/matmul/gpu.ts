import { toHalves, type Matrix } from '../npy.ts';
import type { Pacer } from '../pacer.ts';
import { matmulConfigDefault, matmulConfigF16, matmulKernels, type MatmulConfig } from './configs.ts';

export * from './configs.ts';

/**
 * Runs C = A·B on a GPUDevice. No DOM and no Node APIs: the browser worker, the Dawn agent,
 * the bench and the tests all call this one runner, which owns pipelines (cached per
 * device), buffers, labels and error scopes.
 *
 * Watchdog budget: a dispatch must end well within a second on the adapter it runs on
 * (Chrome kills a device at 15 s, Windows resets the GPU at 2 s). Long products are split
 * over K into dispatches of at most `dispatchFlopsMax`. Nodes set it from their calibrated
 * speed (dispatchSecondsTarget of work); the default suits the naive kernel on SwiftShader
 * here (0.19-0.35 GFLOP/s, so 64 MFLOP ≈ 0.2-0.35 s; 256 MFLOP made 1.5 s dispatches on
 * 12-02's slower machine). A dispatch that runs over twice the aim halves those after it.
 */
export const dispatchFlopsMaxDefault = 64e6;
/** The share of a second a node aims each dispatch at; 4× headroom under the 1 s bound. */
export const dispatchSecondsTarget = 0.25;

export interface MatmulStats {
  dispatches: number;
  /** The longest dispatch, submit to done, as the host saw it. */
  maxDispatchMs: number;
}

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

const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/**
 * Devices whose host spins its JS thread while a GPU promise is pending: Dawn in Node ticks
 * its event loop with setImmediate until every onSubmittedWorkDone or mapAsync has resolved.
 * Where the GPU is the CPU (SwiftShader), that thread takes a core from the driver's: in a
 * 2.6 s dispatch on 2 cores here, the main thread burnt 1.7 s of CPU and Dawn ran at 55% of
 * Chromium's speed on the same driver. On such devices the runner sleeps through 90% of a
 * dispatch's expected time before it waits (spinning for the rest), expected from the fastest
 * rate (FLOPs per ms) a dispatch of that pipeline has shown: a rate can only be measured too
 * slow, so the sleep errs short, and when the device speeds up an oversleep is timed as 0.9
 * of the guess, which raises the rate by 1/0.9 a dispatch until the guess is right again.
 * Small dispatches teach nothing: their time is mostly fixed cost (a pipeline's first use, a
 * 37×29·29×45 check "at" 0.02 GFLOP/s), and sleeping by such a rate made a 512² product take
 * 27 s. So only dispatches of 50 MFLOP or more set the rate. A pipeline not timed yet (each
 * candidate in autotune's first round) sleeps by the fastest rate any pipeline of the device
 * has shown, with half the share: it oversleeps only if it is 2.2× faster.
 */
const restless = new WeakSet<GPUDevice>();
export const restWhileGpuBusy = (device: GPUDevice) => void restless.add(device);
const bestRates = new WeakMap<GPUDevice, Map<string, number>>();
const restShare = 0.9;
const rateFlopsMin = 50e6;
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** How long to sleep after submitting `flops` of `label`'s pipeline before waiting on the GPU. */
function restMs(device: GPUDevice, label: string, flops: number): number {
  const rates = bestRates.get(device);
  if (!restless.has(device) || !rates) return 0;
  const own = rates.get(label);
  if (own) return (restShare * flops) / own;
  const fastest = Math.max(0, ...rates.values());
  return fastest > 0 ? (restShare / 2) * (flops / fastest) : 0;
}

const labelOf = ({ kernel, wg }: MatmulConfig) => `matmul/${kernel}/${wg[0]}x${wg[1]}`;

function pipelineDescriptor(device: GPUDevice, config: MatmulConfig): GPUComputePipelineDescriptor {
  const { kernel, wg } = config;
  const label = labelOf(config);
  const module = device.createShaderModule({ label, code: matmulKernels[kernel].source });
  const constants: Record<string, number> = matmulKernels[kernel].oneRow ? { wgX: wg[0] } : { wgX: wg[0], wgY: wg[1] };
  return { label, layout: 'auto', compute: { module, entryPoint: 'main', constants } };
}

function cacheOf(device: GPUDevice) {
  let cache = pipelines.get(device);
  if (!cache) pipelines.set(device, (cache = new Map()));
  return cache;
}

function pipelineFor(device: GPUDevice, config: MatmulConfig): GPUComputePipeline {
  const cache = cacheOf(device);
  const label = labelOf(config);
  let pipeline = cache.get(label);
  if (!pipeline) {
    pipeline = device.createComputePipeline(pipelineDescriptor(device, config));
    cache.set(label, pipeline);
  }
  return pipeline;
}

/**
 * Compiles the configs' pipelines at once, asynchronously (the browser and Dawn compile them on
 * threads of their own), into the cache matmulGpu uses. A config that fails to compile is left
 * out; matmulGpu then reports it when it is used.
 */
export async function compileMatmul(device: GPUDevice, configs: MatmulConfig[]): Promise<void> {
  const cache = cacheOf(device);
  await Promise.all(
    configs.map(async (config) => {
      const label = labelOf(config);
      if (cache.has(label)) return;
      const pipeline = await device.createComputePipelineAsync(pipelineDescriptor(device, config)).catch(() => null);
      if (pipeline) cache.set(label, pipeline);
    }),
  );
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
  const flopsMax = options.dispatchFlopsMax ?? dispatchFlopsMaxDefault;
  const kStep = kernel.padded ? 4 : 1;
  let kChunk = Math.min(kp, Math.max(kStep, Math.floor(flopsMax / (2 * mp * np) / kStep) * kStep));
  const stats = options.stats ?? { dispatches: 0, maxDispatchMs: 0 };
  const created: GPUBuffer[] = [];
  const buffer = (label: string, size: number, usage: number) => {
    const made = device.createBuffer({ label, size: roundUp(Math.max(16, size), 16), usage });
    created.push(made);
    return made;
  };
  device.pushErrorScope('validation');
  device.pushErrorScope('out-of-memory');
  try {
    const S = GPUBufferUsage;
    const dataA = padded(a, mp, kp, kernel.input), dataB = padded(b, kp, np, kernel.input);
    const bufA = buffer('matmul/a', dataA.byteLength, S.STORAGE | S.COPY_DST);
    const bufB = buffer('matmul/b', dataB.byteLength, S.STORAGE | S.COPY_DST);
    const bufC = buffer('matmul/c', mp * np * 4, S.STORAGE | S.COPY_SRC);
    const read = buffer('matmul/read', mp * np * 4, S.MAP_READ | S.COPY_DST);
    // The pacer counts the GPU busy from the uploads to the read-back: every segment of it.
    await options.pacer?.rest();
    let segment = performance.now();
    device.queue.writeBuffer(bufA, 0, dataA.buffer, dataA.byteOffset, dataA.byteLength);
    device.queue.writeBuffer(bufB, 0, dataB.buffer, dataB.byteOffset, dataB.byteLength);
    const pipeline = pipelineFor(device, config);
    const groups = [Math.ceil((np / kernel.cols) * kernel.lanes / config.wg[0]), Math.ceil(mp / kernel.rows / config.wg[1])] as const;
    for (let k0 = 0, k1 = 0; k0 < kp; k0 = k1) {
      k1 = Math.min(kp, k0 + kChunk);
      const dims = buffer('matmul/dims', 32, S.UNIFORM | S.COPY_DST);
      device.queue.writeBuffer(dims, 0, new Uint32Array([mp, kp, np, k0, k1, 0, 0, 0]));
      const bind = device.createBindGroup({
        label: 'matmul/bind',
        layout: pipeline.getBindGroupLayout(0),
        entries: [bufA, bufB, bufC, dims].map((b, binding) => ({ binding, resource: { buffer: b } })),
      });
      const encoder = device.createCommandEncoder({ label: 'matmul' });
      const pass = encoder.beginComputePass({ label: 'matmul' });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(groups[0], groups[1]);
      pass.end();
      const last = k1 >= kp;
      if (last) encoder.copyBufferToBuffer(bufC, 0, read, 0, mp * np * 4);
      if (k0 > 0) {
        await options.pacer?.rest();
        segment = performance.now();
      }
      const flops = 2 * mp * np * (k1 - k0);
      const started = performance.now();
      device.queue.submit([encoder.finish()]);
      const rest = restMs(device, labelOf(config), flops);
      if (rest > 0) await sleep(rest);
      await device.queue.onSubmittedWorkDone();
      const ended = performance.now();
      if (flops >= rateFlopsMin) {
        const rates = bestRates.get(device) ?? new Map<string, number>();
        bestRates.set(device, rates.set(labelOf(config), Math.max(rates.get(labelOf(config)) ?? 0, flops / (ended - started))));
      }
      if (!last) options.pacer?.busy(segment, ended);
      stats.dispatches++;
      stats.maxDispatchMs = Math.max(stats.maxDispatchMs, ended - started);
      // Calibration can be wrong (measured on a smaller product, on a machine then less busy):
      // a dispatch over twice the aim halves the ones after it, as often as it takes.
      if (ended - started > 2 * dispatchSecondsTarget * 1000) kChunk = Math.max(kStep, Math.floor(kChunk / 2 / kStep) * kStep);
    }
    await read.mapAsync(GPUMapMode.READ);
    options.pacer?.busy(segment, performance.now());
    const out = new Float32Array(read.getMappedRange(), 0, mp * np);
    const data = new Float32Array(m * n);
    for (let r = 0; r < m; r++) data.set(out.subarray(r * np, r * np + n), r * n);
    read.unmap();
    return { rows: m, cols: n, data };
  } finally {
    const [oom, validation] = [await device.popErrorScope(), await device.popErrorScope()];
    for (const made of created) made.destroy();
    const error = validation ?? oom;
    if (error) throw new Error(`matmul kernel failed on the GPU: ${error.message}`);
  }
}
