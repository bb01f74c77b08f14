// In-page half of the bench and of the Chromium kernel tests. Exposes `window.supernetBench`;
// the Node side (bench/matmul.ts, tests/kernels-chromium.test.ts) drives it with Playwright.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import { defaultDevice as jaxDefaultDevice, init as jaxInit, numpy as np } from '@jax-js/jax';
import { matmulConfigNaive, matmulGpu, usefulFeatures, type MatmulConfig, type MatmulStats } from '../../workloads/matmul/gpu.ts';
import { autotuneMatmul } from '../../workloads/matmul/autotune.ts';
import { randomMatrix } from '../../workloads/matmul/random.ts';
import { timeRuns, type Impl } from '../timing.ts';

let device: GPUDevice;
let adapterName = '';
let jaxWebGpu = false;

async function init() {
  const adapter = await navigator.gpu?.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter');
  adapterName = [adapter.info.vendor, adapter.info.architecture, adapter.info.description].filter(Boolean).join(' ');
  device = await adapter.requestDevice({ requiredFeatures: usefulFeatures(adapter), requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize } });
  await tf.setBackend('webgpu');
  await tf.ready();
  // jax-js on its own WebGPU device, as TF.js is; the page works without it (its runs then fail, said as such).
  jaxWebGpu = await jaxInit('webgpu').then((devices) => devices.includes('webgpu'), () => false);
  if (jaxWebGpu) jaxDefaultDevice('webgpu');
  document.getElementById('status')!.textContent = `ready: ${adapterName}`;
}
const ready = init();

/** One product through TensorFlow.js's WebGPU backend, upload and read-back included. */
async function tfjsMatmul(a: Float32Array, b: Float32Array, n: number) {
  const ta = tf.tensor2d(a, [n, n]), tb = tf.tensor2d(b, [n, n]);
  const tc = tf.matMul(ta, tb);
  await tc.data();
  tf.dispose([ta, tb, tc]);
}

/** One product through jax-js on WebGPU, upload and read-back included (operations take ownership of their arguments). */
async function jaxMatmul(a: Float32Array, b: Float32Array, n: number) {
  if (!jaxWebGpu) throw new Error('jax-js found no WebGPU device');
  const c = np.matmul(np.array(a, { shape: [n, n] }), np.array(b, { shape: [n, n] }));
  await c.data();
}

const api = {
  async adapter() {
    await ready;
    return adapterName;
  },
  async autotune() {
    await ready;
    return autotuneMatmul(device);
  },
  /** Median GFLOP/s of each impl at one size, the impls interleaved run by run. */
  async run(size: number, impls: Impl[], runs: number, ours: MatmulConfig, dispatchFlopsMax: number) {
    await ready;
    const a = randomMatrix(size, size, 1), b = randomMatrix(size, size, 2);
    const stats: Record<string, MatmulStats> = {};
    const fns: Record<string, () => Promise<unknown>> = {
      ours: () => matmulGpu(device, a, b, { config: ours, dispatchFlopsMax, stats: (stats.ours ??= { dispatches: 0, maxDispatchMs: 0 }) }),
      naive: () => matmulGpu(device, a, b, { config: matmulConfigNaive, stats: (stats.naive ??= { dispatches: 0, maxDispatchMs: 0 }) }),
      tfjs: () => tfjsMatmul(a.data, b.data, size),
      jax: () => jaxMatmul(a.data, b.data, size),
    };
    const medians = await timeRuns(impls, runs, (impl) => fns[impl]!());
    return impls.map((impl) => ({ impl, ms: medians[impl]!, maxDispatchMs: stats[impl]?.maxDispatchMs ?? null }));
  },
  /** The product on this page's device as base64 float32 bytes, for the Chromium kernel tests. */
  async matmul(m: number, k: number, n: number, seedA: number, seedB: number, config: MatmulConfig) {
    await ready;
    const c = await matmulGpu(device, randomMatrix(m, k, seedA), randomMatrix(k, n, seedB), { config });
    const bytes = new Uint8Array(c.data.buffer);
    let text = '';
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(text);
  },
};

declare global {
  interface Window {
    supernetBench: typeof api;
  }
}
window.supernetBench = api;
