// The browser node's GPU, inside its worker (node-worker.ts): it owns the GPUDevice and runs
// units with the same kernels as the Dawn agent (workloads/node.ts).
import { gpuContext, kernels, type GpuContext } from '../../workloads/node.ts';
import { autotuneMatmul, type Tuning } from '../../workloads/matmul/autotune.ts';
import { matmulKernels, usefulFeatures } from '../../workloads/matmul/configs.ts';
import { matmulReference } from '../../workloads/matmul/reference.ts';
import { Pacer } from '../../shaders/pacer.ts';
import type { UnitPayload } from '../../server/protocol/messages.ts';

export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

export interface Opened {
  /** 'webgpu', or 'cpu' where the browser has no WebGPU (JavaScript, far slower). */
  backend: 'webgpu' | 'cpu';
  adapter: AdapterInfo;
  features: string[];
  /** Why there is no WebGPU, when backend is 'cpu'. */
  why?: string;
}

const pacer = new Pacer();
let device: GPUDevice | null = null;
let context: GpuContext | null = null;
let tuning: Tuning | null = null;
let lost: Promise<never> | null = null;
let backend: Opened['backend'] = 'webgpu';
let cpuGflops = 0;
let loseInNextUnit = false;

async function openDevice(): Promise<{ adapter: GPUAdapter; device: GPUDevice }> {
  if (!navigator.gpu) throw new Error('this browser has no WebGPU (navigator.gpu is missing)');
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('the browser offers no WebGPU adapter (WebGPU is off, or the GPU is blocklisted)');
  const made = await adapter.requestDevice({
    label: 'supernet-browser-node',
    requiredFeatures: usefulFeatures(adapter),
    requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize },
  });
  // A lost device fails the unit in hand at once (run() races this), and the next unit opens a new one.
  lost = made.lost.then((info) => {
    device = null;
    throw new Error(`the GPU device was lost (${info.reason}: ${info.message || 'no message'}); it will be reopened`);
  });
  lost.catch(() => {});
  return { adapter, device: made };
}

export const gpu = {
  /** Opens the GPU; where there is none, falls back to the CPU and says why. */
  async open(): Promise<Opened> {
    try {
      const opened = await openDevice();
      device = opened.device;
      const info = opened.adapter.info;
      backend = 'webgpu';
      return { backend, adapter: { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description }, features: [...opened.adapter.features] };
    } catch (err) {
      backend = 'cpu';
      return { backend, adapter: { vendor: 'cpu', architecture: 'javascript', device: '', description: 'CPU (JavaScript, no WebGPU)' }, features: [], why: (err as Error).message };
    }
  },

  /** Picks the matmul kernel (the remembered one, or a ~3 s autotune) and measures GFLOP/s. */
  async calibrate(known?: Tuning): Promise<Tuning> {
    if (backend === 'cpu') {
      const m = { rows: 128, cols: 128, data: new Float32Array(128 * 128).fill(0.5) };
      const start = performance.now();
      matmulReference(m, m);
      cpuGflops = (2 * 128 ** 3) / ((performance.now() - start) / 1000) / 1e9;
      tuning = { config: { kernel: 'naive', wg: [8, 8] }, gflops: cpuGflops, trials: [] };
      return tuning;
    }
    if (!device) throw new Error('open() the GPU first');
    tuning = known && known.config.kernel in matmulKernels ? known : await autotuneMatmul(device);
    context = gpuContext(device, tuning, pacer);
    return tuning;
  },

  async run(unit: UnitPayload, inputs: Uint8Array[]): Promise<Uint8Array> {
    const kernel = kernels[unit.kind];
    if (!kernel) throw new Error(`this node cannot run ${unit.kind} units`);
    if (backend === 'cpu') {
      await pacer.rest();
      const start = performance.now();
      const out = kernel.cpu(inputs, unit.params);
      pacer.busy(start, performance.now());
      return out;
    }
    if (!device || !context || !lost) {
      if (!tuning) throw new Error('calibrate() first');
      device = (await openDevice()).device;
      context = gpuContext(device, tuning, pacer);
    }
    const running = Promise.race([kernel.run(context, inputs, unit.params), lost!]);
    if (loseInNextUnit) {
      loseInNextUnit = false;
      const doomed = device;
      setTimeout(() => doomed.destroy(), 0); // mid-unit, as a driver reset would land
    }
    return running;
  },

  /** The most of its time the GPU may be busy, 0.05 to 1. */
  setThrottle(share: number) {
    pacer.share = share;
  },

  /** The share of the last `windowMs` the GPU was busy. */
  busyShare(windowMs: number): number {
    const now = performance.now();
    return pacer.busyShare(now - windowMs, now);
  },

  restShare(windowMs: number): number {
    const now = performance.now();
    return pacer.restShare(now - windowMs, now);
  },

  /** The longest dispatch in the last `windowMs`, in ms. */
  longestBusy(windowMs: number): number {
    const now = performance.now();
    return pacer.longestBusy(now - windowMs, now);
  },

  /** Loses the device on purpose in the middle of the next unit, as a driver reset would (tests, and the page's debug handle). */
  loseDevice() {
    loseInNextUnit = true;
  },
};
