// In-page half of the bench and of the Chromium kernel tests. Exposes `window.supernetBench`;
// the Node side (bench/matmul.ts, tests/kernels-chromium.test.ts) drives it with Playwright.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
// The gradients of TF.js's ops (tfjs-core alone registers none: the train step's minimize needs them).
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { blockUntilReady, defaultDevice as jaxDefaultDevice, init as jaxInit, jit, nn, numpy as np, tree, valueAndGrad } from '@jax-js/jax';
import { matmulConfigNaive, matmulGpu, usefulFeatures, type MatmulConfig, type MatmulStats } from '../../workloads/matmul/gpu.ts';
import { autotuneMatmul } from '../../workloads/matmul/autotune.ts';
import { randomMatrix } from '../../workloads/matmul/random.ts';
import { timeRuns, type Impl } from '../timing.ts';
import { shardGradientGpu } from '../../workloads/train/gpu.ts';
import { initialParams, planModel } from '../../workloads/train/model.ts';
import { initialState, optimizerStep } from '../../workloads/train/optimizer.ts';

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

/**
 * One training step of an MLP 784-hidden-10 with softmax cross-entropy and Adam, the batch
 * uploaded each step (it comes from the data) and the step finished (weights ready) before the
 * next: ours (the train workload's kernels, shardGradientGpu, and its optimizer on the CPU, as
 * the coordinator steps), TensorFlow.js's WebGPU backend (tf.train.adam over variables), and
 * jax-js on WebGPU (jit of valueAndGrad, and Adam written in its numpy: @jax-js/optax is not on
 * the npm registry). Returns each one's median milliseconds.
 */
async function trainSteps(hidden: number, batch: number, runs: number) {
  const plan = planModel([784], [{ type: 'dense', units: hidden }, { type: 'relu' }, { type: 'dense', units: 10 }], 10);
  const init = initialParams(plan, 1);
  const x = randomMatrix(batch, 784, 3).data.map((v) => Math.abs(v));
  const labels = Float32Array.from({ length: batch }, (_, i) => (i * 7) % 10);
  const oneHot = new Float32Array(batch * 10).map((_, i) => (labels[Math.floor(i / 10)] === i % 10 ? 1 : 0));
  const adam = { kind: 'adam' as const, learningRate: 0.001, momentum: 0.9 };
  const [w1, b1, w2, b2] = [plan.params[0]!, plan.params[0]!, plan.params[2]!, plan.params[2]!];
  const slices = [init.slice(w1.weights, b1.biases), init.slice(b1.biases, b1.biases + hidden), init.slice(w2.weights, b2.biases), init.slice(b2.biases, b2.biases + 10)];

  // Ours.
  let params: Float32Array = init.slice();
  let state: Float32Array = initialState(adam, plan.size);
  let t = 0;
  const ours = async () => {
    const g = await shardGradientGpu(device, plan, params, x, labels, batch);
    const mean = g.grads.map((v) => v / batch);
    ({ params, state } = optimizerStep(adam, params, mean, state, ++t));
  };

  // TensorFlow.js.
  const vars = [tf.variable(tf.tensor2d(slices[0]!, [784, hidden])), tf.variable(tf.tensor1d(slices[1]!)), tf.variable(tf.tensor2d(slices[2]!, [hidden, 10])), tf.variable(tf.tensor1d(slices[3]!))];
  const optimizer = tf.train.adam(0.001);
  const tfjs = async () => {
    const xs = tf.tensor2d(x, [batch, 784]);
    const ys = tf.tensor2d(oneHot, [batch, 10]);
    const loss = optimizer.minimize(() => {
      const h = tf.relu(tf.add(tf.matMul(xs, vars[0]!), vars[1]!));
      const logits = tf.add(tf.matMul(h, vars[2]!), vars[3]!);
      return tf.losses.softmaxCrossEntropy(ys, logits) as tf.Scalar;
    }, true, vars)!;
    await loss.data();
    await vars[0]!.data();
    tf.dispose([xs, ys, loss]);
  };

  // jax-js.
  type P = { w1: np.Array; b1: np.Array; w2: np.Array; b2: np.Array };
  let jp: P | null = null, jm: P | null = null, jv: P | null = null;
  let jt = 0;
  const jaxLoss = (p: P, xs: np.Array, ys: np.Array) => {
    const h = nn.relu(np.matmul(xs, p.w1).add(p.b1));
    return nn.logSoftmax(np.matmul(h, p.w2).add(p.b2), -1).mul(ys).sum().mul(-1 / batch);
  };
  const jaxGrad = jit(valueAndGrad(jaxLoss));
  const jaxAdam = jit((p: np.Array, g: np.Array, m: np.Array, v: np.Array, rate: np.Array) => {
    const m2 = m.mul(0.9).add(g.ref.mul(0.1));
    const v2 = v.mul(0.999).add(g.ref.mul(g).mul(0.001));
    return [p.sub(rate.mul(m2.ref).div(np.sqrt(v2.ref).add(1e-8))), m2, v2];
  });
  const jax = async () => {
    if (!jaxWebGpu) throw new Error('jax-js found no WebGPU device');
    if (!jp) {
      const [a, b, c, d] = slices.map((v, i) => np.array(v, { shape: i === 0 ? [784, hidden] : i === 2 ? [hidden, 10] : [v.length] }));
      jp = { w1: a!, b1: b!, w2: c!, b2: d! };
      jm = tree.map((a: np.Array) => np.zerosLike(a.ref), jp) as P;
      jv = tree.map((a: np.Array) => np.zerosLike(a.ref), jp) as P;
    }
    jt++;
    const [loss, g] = jaxGrad(tree.ref(jp), np.array(x, { shape: [batch, 784] }), np.array(oneHot, { shape: [batch, 10] }));
    const rate = (0.001 * Math.sqrt(1 - 0.999 ** jt)) / (1 - 0.9 ** jt);
    const next = { w1: [] as np.Array[], b1: [] as np.Array[], w2: [] as np.Array[], b2: [] as np.Array[] };
    for (const k of ['w1', 'b1', 'w2', 'b2'] as const) next[k] = jaxAdam(jp![k], (g as P)[k], jm![k], jv![k], np.array(rate)) as np.Array[];
    jp = { w1: next.w1[0]!, b1: next.b1[0]!, w2: next.w2[0]!, b2: next.b2[0]! };
    jm = { w1: next.w1[1]!, b1: next.b1[1]!, w2: next.w2[1]!, b2: next.b2[1]! };
    jv = { w1: next.w1[2]!, b1: next.b1[2]!, w2: next.w2[2]!, b2: next.b2[2]! };
    await loss.data();
    await blockUntilReady(jp);
  };
  const fns: Partial<Record<Impl, () => Promise<void>>> = { ours, tfjs, jax };
  return timeRuns(['ours', 'tfjs', 'jax'], runs, (impl) => fns[impl]!());
}

const api = {
  async trainSteps(hidden: number, batch: number, runs: number) {
    await ready;
    return trainSteps(hidden, batch, runs);
  },
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
