import type { Pacer } from './pacer.ts';

/**
 * The one GPU runner: every kernel of every workload is data (a `Kernel`: WGSL, entry point,
 * override constants) plus a `KernelRun` (its buffers and how its work splits into dispatches),
 * and this module does the rest. No DOM and no Node APIs: the browser worker, the Dawn agent,
 * the bench and the tests all call it. It owns
 *   - pipelines, cached per device by the kernel's label (compile() builds them ahead, async);
 *   - buffers, labelled, made for the run and destroyed after it, errors or not;
 *   - error scopes: a validation or out-of-memory error fails the run with the driver's words;
 *   - the watchdog budget: a dispatch must end well within a second on the adapter it runs on
 *     (Chrome kills a device at 15 s, Windows resets the GPU at 2 s), so a run's work is split
 *     along its `split` axis into dispatches of at most `dispatchFlopsMax`, and a dispatch that
 *     runs over twice the aim halves the ones after it (calibration can be wrong);
 *   - the throttle (the node's Pacer): it rests before each dispatch and hears how long each
 *     kept the GPU busy;
 *   - Dawn's rest (restWhileGpuBusy, below).
 * Nodes set `dispatchFlopsMax` from their calibrated speed (dispatchSecondsTarget of work); the
 * default suits the naive matmul kernel on SwiftShader here (0.19-0.35 GFLOP/s, so 64 MFLOP ≈
 * 0.2-0.35 s; 256 MFLOP made 1.5 s dispatches on 12-02's slower machine).
 */
export const dispatchFlopsMaxDefault = 64e6;
/** The share of a second a node aims each dispatch at; 4× headroom under the 1 s bound. */
export const dispatchSecondsTarget = 0.25;

/** A compute kernel as data. `label` names its pipeline: one label, one pipeline per device. */
export interface Kernel {
  label: string;
  code: string;
  entryPoint?: string;
  constants?: Record<string, number>;
}

/**
 * One run of a kernel. Bindings of group 0, in order: `inputs` (storage, read-only in the
 * shader), `outputs` (storage, zeroed; read back at the end), then a uniform buffer written for
 * each dispatch with `uniforms(from, to)`: the dispatch covers [from, to) of the `split` axis
 * (matmul's K, a render's samples), a multiple of `step` except perhaps at the end, and costs
 * `flopsPerStep` per unit of the axis (what the budget is counted in).
 */
export interface KernelRun {
  kernel: Kernel;
  inputs: { label: string; data: ArrayBufferView }[];
  outputs: { label: string; bytes: number }[];
  groups: readonly [number, number?, number?];
  split: { length: number; step: number; flopsPerStep: number; uniforms(from: number, to: number): ArrayBufferView };
}

export interface RunOptions {
  dispatchFlopsMax?: number;
  /** Filled in with what the run did. */
  stats?: RunStats;
  /** The node's throttle: rests before each dispatch, hears how long each kept the GPU busy. */
  pacer?: Pacer;
}

export interface RunStats {
  dispatches: number;
  /** The longest dispatch, submit to done, as the host saw it. */
  maxDispatchMs: number;
  /** Submits to the queue (a chain of passes puts several dispatches in one). */
  submits?: number;
  /** The dispatches' times added up, submit to done as the host saw it: the kernel's share of a run. */
  busyMs?: number;
}

const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

function cacheOf(device: GPUDevice) {
  let cache = pipelines.get(device);
  if (!cache) pipelines.set(device, (cache = new Map()));
  return cache;
}

function descriptor(device: GPUDevice, kernel: Kernel): GPUComputePipelineDescriptor {
  const module = device.createShaderModule({ label: kernel.label, code: kernel.code });
  return { label: kernel.label, layout: 'auto', compute: { module, entryPoint: kernel.entryPoint ?? 'main', ...(kernel.constants ? { constants: kernel.constants } : {}) } };
}

/** The kernel's pipeline on this device, made on first use. */
export function pipelineFor(device: GPUDevice, kernel: Kernel): GPUComputePipeline {
  const cache = cacheOf(device);
  let pipeline = cache.get(kernel.label);
  if (!pipeline) cache.set(kernel.label, (pipeline = device.createComputePipeline(descriptor(device, kernel))));
  return pipeline;
}

/**
 * Compiles kernels' pipelines at once, asynchronously (the browser and Dawn compile them on
 * threads of their own), into the cache runs use. One that fails to compile is left out: a run
 * of it then reports the error.
 */
export async function compile(device: GPUDevice, kernels: Kernel[]): Promise<void> {
  const cache = cacheOf(device);
  await Promise.all(
    kernels.map(async (kernel) => {
      if (cache.has(kernel.label)) return;
      const pipeline = await device.createComputePipelineAsync(descriptor(device, kernel)).catch(() => null);
      if (pipeline) cache.set(kernel.label, pipeline);
    }),
  );
}

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

const roundUp = (x: number, step: number) => Math.ceil(x / step) * step;

/**
 * What every run shares: labelled buffers made for it and destroyed after it, errors or not; the
 * two error scopes (a validation or out-of-memory error fails the run with the driver's words,
 * and a pipeline that failed validation is not kept: the next run says why again); a submit
 * that rests while the GPU works and learns the pipeline's rate; the read-back.
 */
async function session<T>(device: GPUDevice, label: string, body: (gpu: Session) => Promise<T>): Promise<T> {
  const created: GPUBuffer[] = [];
  const used = new Set<string>();
  const gpu: Session = {
    buffer(name, size, usage) {
      const made = device.createBuffer({ label: `${label}/${name}`, size: roundUp(Math.max(16, size), 16), usage });
      created.push(made);
      return made;
    },
    pipeline(kernel) {
      used.add(kernel.label);
      return pipelineFor(device, kernel);
    },
    async submit(encoder, work, flops) {
      const started = performance.now();
      device.queue.submit([encoder.finish()]);
      const rest = restMs(device, work, flops);
      if (rest > 0) await sleep(rest);
      await device.queue.onSubmittedWorkDone();
      const ended = performance.now();
      if (flops >= rateFlopsMin) {
        const rates = bestRates.get(device) ?? new Map<string, number>();
        bestRates.set(device, rates.set(work, Math.max(rates.get(work) ?? 0, flops / (ended - started))));
      }
      return { started, ended };
    },
    async read(reads, sizes) {
      const out: ArrayBuffer[] = [];
      for (const [i, read] of reads.entries()) {
        await read.mapAsync(GPUMapMode.READ);
        out.push(read.getMappedRange(0, roundUp(Math.max(16, sizes[i]!), 16)).slice(0, sizes[i]!));
        read.unmap();
      }
      return out;
    },
  };
  device.pushErrorScope('validation');
  device.pushErrorScope('out-of-memory');
  try {
    return await body(gpu);
  } finally {
    const [oom, validation] = [await device.popErrorScope(), await device.popErrorScope()];
    for (const made of created) made.destroy();
    const error = validation ?? oom;
    if (validation) for (const name of used) cacheOf(device).delete(name);
    if (error) throw new Error(`${label} failed on the GPU: ${error.message}`);
  }
}

interface Session {
  buffer(name: string, size: number, usage: number): GPUBuffer;
  pipeline(kernel: Kernel): GPUComputePipeline;
  /** Submits the encoder's work and waits for it, resting first where the host spins; `work` names what a rate is learned for (a pipeline, or a chain of passes). */
  submit(encoder: GPUCommandEncoder, work: string, flops: number): Promise<{ started: number; ended: number }>;
  read(reads: GPUBuffer[], sizes: number[]): Promise<ArrayBuffer[]>;
}

const usage = () => GPUBufferUsage;

/** Runs `run` on `device`: its outputs' bytes, in order. */
export async function runKernel(device: GPUDevice, run: KernelRun, options: RunOptions = {}): Promise<ArrayBuffer[]> {
  const { kernel, split } = run;
  const flopsMax = options.dispatchFlopsMax ?? dispatchFlopsMaxDefault;
  const step = Math.max(1, split.step);
  let chunk = Math.min(roundUp(split.length, step), Math.max(step, Math.floor(flopsMax / Math.max(1, split.flopsPerStep) / step) * step));
  const stats = options.stats ?? { dispatches: 0, maxDispatchMs: 0 };
  return session(device, kernel.label, async (gpu) => {
    const S = usage();
    const inputs = run.inputs.map((i) => gpu.buffer(i.label, i.data.byteLength, S.STORAGE | S.COPY_DST));
    const outputs = run.outputs.map((o) => gpu.buffer(o.label, o.bytes, S.STORAGE | S.COPY_SRC));
    const reads = run.outputs.map((o) => gpu.buffer(`${o.label}/read`, o.bytes, S.MAP_READ | S.COPY_DST));
    // The pacer counts the GPU busy from the uploads to the read-back: every segment of it.
    await options.pacer?.rest();
    let segment = performance.now();
    run.inputs.forEach((input, i) => device.queue.writeBuffer(inputs[i]!, 0, input.data.buffer, input.data.byteOffset, input.data.byteLength));
    const pipeline = gpu.pipeline(kernel);
    if (!(split.length >= 1)) throw new Error(`${kernel.label}: a run splits an axis of at least 1 (got ${split.length})`);
    for (let from = 0, to = 0; from < split.length; from = to) {
      to = Math.min(split.length, from + chunk);
      const uniformData = split.uniforms(from, to);
      const uniforms = gpu.buffer('uniforms', uniformData.byteLength, S.UNIFORM | S.COPY_DST);
      device.queue.writeBuffer(uniforms, 0, uniformData.buffer, uniformData.byteOffset, uniformData.byteLength);
      const bind = device.createBindGroup({
        label: `${kernel.label}/bind`,
        layout: pipeline.getBindGroupLayout(0),
        entries: [...inputs, ...outputs, uniforms].map((b, binding) => ({ binding, resource: { buffer: b } })),
      });
      const encoder = device.createCommandEncoder({ label: kernel.label });
      const pass = encoder.beginComputePass({ label: kernel.label });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(run.groups[0], run.groups[1] ?? 1, run.groups[2] ?? 1);
      pass.end();
      const last = to >= split.length;
      if (last) run.outputs.forEach((o, i) => encoder.copyBufferToBuffer(outputs[i]!, 0, reads[i]!, 0, roundUp(Math.max(16, o.bytes), 16)));
      if (from > 0) {
        await options.pacer?.rest();
        segment = performance.now();
      }
      const { started, ended } = await gpu.submit(encoder, kernel.label, split.flopsPerStep * (to - from));
      stats.submits = (stats.submits ?? 0) + 1;
      if (!last) options.pacer?.busy(segment, ended);
      stats.dispatches++;
      stats.maxDispatchMs = Math.max(stats.maxDispatchMs, ended - started);
      stats.busyMs = (stats.busyMs ?? 0) + (ended - started);
      // Calibration can be wrong (measured on a smaller run, on a machine then less busy): a
      // dispatch over twice the aim halves the ones after it, as often as it takes.
      if (ended - started > 2 * dispatchSecondsTarget * 1000) chunk = Math.max(step, Math.floor(chunk / 2 / step) * step);
    }
    const out = await gpu.read(reads, run.outputs.map((o) => o.bytes));
    options.pacer?.busy(segment, performance.now());
    return out;
  });
}

/** One dispatch of a `PassesRun`: its kernel, the buffers it binds by number, its uniforms. */
export interface Pass {
  kernel: Kernel;
  /** Binding number (group 0) → the name of a buffer of the run. */
  bind: Record<number, string>;
  /** Written to a uniform buffer of its own, bound at `uniformsAt`. */
  uniforms: ArrayBufferView;
  uniformsAt: number;
  groups: readonly [number, number?, number?];
  flops: number;
}

/**
 * A chain of dispatches over buffers that stay on the GPU between them (a training step: the
 * forward pass layer by layer, the loss, the backward pass), read back only at the end. Buffers
 * with `data` are uploaded, the others start zeroed. Consecutive passes go in one submit while
 * their work stays within `dispatchFlopsMax` (the watchdog budget, as for runKernel); a pass is
 * never split, so the caller keeps each one within it (train sizes its micro-batches so).
 */
export interface PassesRun {
  label: string;
  buffers: Record<string, { data: ArrayBufferView } | { bytes: number }>;
  passes: Pass[];
  /** The buffers read back, in order. */
  read: string[];
}

export async function runPasses(device: GPUDevice, run: PassesRun, options: RunOptions = {}): Promise<ArrayBuffer[]> {
  const flopsMax = options.dispatchFlopsMax ?? dispatchFlopsMaxDefault;
  const stats = options.stats ?? { dispatches: 0, maxDispatchMs: 0 };
  return session(device, run.label, async (gpu) => {
    const S = usage();
    const sizes = new Map(Object.entries(run.buffers).map(([name, b]) => [name, 'data' in b ? b.data.byteLength : b.bytes]));
    const buffers = new Map([...sizes].map(([name, size]) => [name, gpu.buffer(name, size, S.STORAGE | S.COPY_DST | S.COPY_SRC)]));
    const named = (name: string) => {
      const found = buffers.get(name);
      if (!found) throw new Error(`${run.label}: a pass binds ${name}, which is not a buffer of the run`);
      return found;
    };
    const reads = run.read.map((name) => gpu.buffer(`${name}/read`, sizes.get(name) ?? 0, S.MAP_READ | S.COPY_DST));
    await options.pacer?.rest();
    let segment = performance.now();
    for (const [name, b] of Object.entries(run.buffers)) if ('data' in b) device.queue.writeBuffer(named(name), 0, b.data.buffer, b.data.byteOffset, b.data.byteLength);
    let encoder = device.createCommandEncoder({ label: run.label });
    if (!run.passes.length) throw new Error(`${run.label}: a run of no passes`);
    let labels: string[] = [];
    let work = 0;
    for (const [i, p] of run.passes.entries()) {
      const pipeline = gpu.pipeline(p.kernel);
      const uniforms = gpu.buffer(`${p.kernel.label}/uniforms`, p.uniforms.byteLength, S.UNIFORM | S.COPY_DST);
      device.queue.writeBuffer(uniforms, 0, p.uniforms.buffer, p.uniforms.byteOffset, p.uniforms.byteLength);
      const entries = Object.entries(p.bind).map(([binding, name]) => ({ binding: Number(binding), resource: { buffer: named(name) } }));
      const bind = device.createBindGroup({ label: `${p.kernel.label}/bind`, layout: pipeline.getBindGroupLayout(0), entries: [...entries, { binding: p.uniformsAt, resource: { buffer: uniforms } }] });
      const pass = encoder.beginComputePass({ label: p.kernel.label });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(p.groups[0], p.groups[1] ?? 1, p.groups[2] ?? 1);
      pass.end();
      labels.push(p.kernel.label);
      work += p.flops;
      stats.dispatches++;
      const next = run.passes[i + 1];
      const last = !next;
      if (!last && work + next.flops <= flopsMax) continue;
      if (last) run.read.forEach((name, k) => encoder.copyBufferToBuffer(named(name), 0, reads[k]!, 0, roundUp(Math.max(16, sizes.get(name)!), 16)));
      const { started, ended } = await gpu.submit(encoder, labels.length === 1 ? labels[0]! : labels.join('+'), work);
      stats.submits = (stats.submits ?? 0) + 1;
      stats.maxDispatchMs = Math.max(stats.maxDispatchMs, ended - started);
      stats.busyMs = (stats.busyMs ?? 0) + (ended - started);
      if (!last) {
        options.pacer?.busy(segment, ended);
        await options.pacer?.rest();
        segment = performance.now();
        encoder = device.createCommandEncoder({ label: run.label });
        labels = [];
        work = 0;
      }
    }
    const out = await gpu.read(reads, run.read.map((name) => sizes.get(name)!));
    options.pacer?.busy(segment, performance.now());
    return out;
  });
}
