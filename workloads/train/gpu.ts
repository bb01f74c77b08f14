import { dispatchFlopsMaxDefault, runPasses, type Pass, type RunOptions } from '../../shaders/runner.ts';
import { features, type ModelPlan } from './model.ts';
import type { ShardGradient } from './reference.ts';
import dims from './dims.wgsl?raw';
import body from './train.wgsl?raw';
import body4 from './dense4.wgsl?raw';

const code = `${dims}\n${body}`;
const code4 = `${dims}\n${body4}`;

const wg = 64;
const kernelOf = (entryPoint: string) => ({ label: `train/${entryPoint}`, code, entryPoint });
const kernel4Of = (entryPoint: string) => ({ label: `train/${entryPoint}4`, code: code4, entryPoint });

/** Whether a dense pass can read and write vec4s (dense4.wgsl): its sizes and offsets in fours. */
const fours = (...values: (number | undefined)[]) => values.every((v) => (v ?? 0) % 4 === 0);

/** The workgroups for `invocations` (one per output value) over a 2-D grid. */
function groups(invocations: number): [number, number] {
  const total = Math.max(1, Math.ceil(invocations / wg));
  const x = Math.min(total, 65535);
  return [x, Math.ceil(total / x)];
}

interface Dims {
  n: number;
  c?: number;
  h?: number;
  w?: number;
  f?: number;
  k?: number;
  oh?: number;
  ow?: number;
  wOff?: number;
  bOff?: number;
  aOff?: number;
  lOff?: number;
  tally?: number;
  oOff?: number;
}
const order = ['n', 'c', 'h', 'w', 'f', 'k', 'oh', 'ow', 'wOff', 'bOff', 'aOff', 'lOff', 'tally', 'oOff'] as const;
const uniforms = (d: Dims) => new Uint32Array(16).map((_, i) => (i < order.length ? (d[order[i]!] ?? 0) : 0));

function pass(entryPoint: string, bind: Record<number, string>, dims: Dims, invocations: number, flops: number): Pass {
  return { kernel: kernelOf(entryPoint), bind, uniforms: uniforms(dims), uniformsAt: 3, groups: groups(invocations), flops };
}

/** A dense pass: dense4.wgsl's where the layer's sizes and offsets are in fours (`quads`: its invocations then), else train.wgsl's. */
function densePass(entryPoint: string, bind: Record<number, string>, dims: Dims, invocations: number, quads: number, flops: number): Pass {
  if (!fours(dims.c, dims.f, dims.wOff, dims.bOff, dims.aOff, dims.oOff)) return pass(entryPoint, bind, dims, invocations, flops);
  return { kernel: kernel4Of(entryPoint), bind, uniforms: uniforms(dims), uniformsAt: 3, groups: groups(quads), flops };
}

/** Invocations of a dense pass: one per 4×4 block of its [rows, cols] output. */
const blocks4 = (rows: number, cols: number) => Math.ceil(rows / 4) * Math.ceil(cols / 4);

/** [c, h, w] of a shape, a flat one as [features, 1, 1]. */
const chw = (shape: number[]) => (shape.length === 3 ? shape : [shape[0]!, 1, 1]) as [number, number, number];

/** The rows of a micro-batch: as many as keep its largest pass (about one forward pass's work a row) within the dispatch budget. */
export function microRowsFor(plan: ModelPlan, dispatchFlopsMax = dispatchFlopsMaxDefault): number {
  return Math.max(1, Math.floor(dispatchFlopsMax / plan.flopsForward));
}

/**
 * The forward pass of rows [row0, row0 + n) of `x` as passes: layer l reads `act{l}` (`x` at
 * row0 for the first) and writes `act{l+1}`; `last`, where given, is where the final layer writes
 * instead, at its offset (inference gathers every micro-batch's scores in one buffer).
 */
function forwardPasses(plan: ModelPlan, row0: number, n: number, last?: { name: string; at: number }): Pass[] {
  const sizes = [features(plan.input), ...plan.shapes.map(features)];
  const passes: Pass[] = [];
  for (const [l, layer] of plan.layers.entries()) {
    const [name, aOff] = l === 0 ? ['x', row0 * sizes[0]!] : [`act${l}`, 0];
    const [c, h, w] = chw(l === 0 ? plan.input : plan.shapes[l - 1]!);
    const [f, oh, ow] = chw(plan.shapes[l]!);
    const p = plan.params[l];
    const final = last && l === plan.layers.length - 1;
    const out = final ? last.name : `act${l + 1}`;
    const oOff = final ? last.at : 0;
    const outputs = n * sizes[l + 1]!;
    if (layer.type === 'dense') passes.push(densePass('dense_forward', { 0: name, 1: 'params', 2: out }, { n, c: sizes[l]!, f, wOff: p!.weights, bOff: p!.biases, aOff, oOff }, blocks4(n, f), blocks4(n, f), 2 * n * sizes[l]! * f));
    else if (layer.type === 'relu') passes.push(pass('relu_forward', { 0: name, 2: out }, { n: outputs, aOff, oOff }, outputs, outputs));
    else if (layer.type === 'conv2d') passes.push(pass('conv_forward', { 0: name, 1: 'params', 2: out }, { n, c, h, w, f, k: layer.kernel, oh, ow, wOff: p!.weights, bOff: p!.biases, aOff, oOff }, n * oh * blocks4(f, ow), 2 * outputs * c * layer.kernel ** 2));
    else passes.push(pass('maxpool_forward', { 0: name, 2: out }, { n, c, h, w, k: layer.size, oh, ow, aOff, oOff }, outputs, outputs * layer.size ** 2));
  }
  return passes;
}

/** The model's scores for `rows` rows of `x` on the GPU ([rows, classes]), micro-batch by micro-batch in one chain. */
export async function forwardGpu(device: GPUDevice, plan: ModelPlan, params: Float32Array, x: Float32Array, rows: number, options: RunOptions & { microRows?: number } = {}): Promise<Float32Array> {
  const m = Math.min(rows, options.microRows ?? Math.max(1, Math.floor((options.dispatchFlopsMax ?? dispatchFlopsMaxDefault) / plan.flopsForward)));
  const sizes = [features(plan.input), ...plan.shapes.map(features)];
  const buffers: Record<string, { data: ArrayBufferView } | { bytes: number }> = { x: { data: x }, params: { data: params }, scores: { bytes: rows * plan.classes * 4 } };
  for (let l = 1; l < plan.layers.length; l++) buffers[`act${l}`] = { bytes: m * sizes[l]! * 4 };
  const passes: Pass[] = [];
  for (let row0 = 0; row0 < rows; row0 += m) passes.push(...forwardPasses(plan, row0, Math.min(m, rows - row0), { name: 'scores', at: row0 * plan.classes }));
  const [scores] = await runPasses(device, { label: 'infer/forward', buffers, passes, read: ['scores'] }, options);
  return new Float32Array(scores!);
}

/**
 * One shard's gradient on the GPU: forward, softmax cross-entropy and backward for each
 * micro-batch of `microRows`, every micro-batch adding into one gradient on the GPU (gradient
 * accumulation), one chain of the runner, one read-back. `x` is [rows, features], `labels` the
 * class of each row.
 */
export async function shardGradientGpu(
  device: GPUDevice,
  plan: ModelPlan,
  params: Float32Array,
  x: Float32Array,
  labels: Float32Array,
  rows: number,
  options: RunOptions & { microRows?: number } = {},
): Promise<ShardGradient> {
  const m = Math.min(rows, options.microRows ?? microRowsFor(plan, options.dispatchFlopsMax));
  const sizes = [features(plan.input), ...plan.shapes.map(features)];
  const last = plan.layers.length;
  const classes = plan.classes;
  const tally = m * classes;
  const buffers: Record<string, { data: ArrayBufferView } | { bytes: number }> = { x: { data: x }, labels: { data: labels }, params: { data: params }, grads: { bytes: plan.size * 4 } };
  for (let l = 1; l <= last; l++) buffers[`act${l}`] = { bytes: m * sizes[l]! * 4 };
  for (let l = 1; l < last; l++) buffers[`d${l}`] = { bytes: m * sizes[l]! * 4 };
  buffers[`d${last}`] = { bytes: (tally + 2 * m) * 4 };
  const passes: Pass[] = [];
  for (let row0 = 0; row0 < rows; row0 += m) {
    const n = Math.min(m, rows - row0);
    const input = (l: number) => (l === 0 ? { name: 'x', aOff: row0 * sizes[0]! } : { name: `act${l}`, aOff: 0 });
    passes.push(...forwardPasses(plan, row0, n));
    passes.push(pass('softmax_cross_entropy', { 0: `act${last}`, 1: 'labels', 2: `d${last}` }, { n, f: classes, lOff: row0, tally, oh: m }, n, 6 * n * classes));
    for (let l = last - 1; l >= 0; l--) {
      const layer = plan.layers[l]!;
      const { name, aOff } = input(l);
      const [c, h, w] = chw(l === 0 ? plan.input : plan.shapes[l - 1]!);
      const [f, oh, ow] = chw(plan.shapes[l]!);
      const p = plan.params[l];
      const dy = `d${l + 1}`;
      const dx = `d${l}`;
      const inputs = n * sizes[l]!;
      if (layer.type === 'dense') {
        const dims = { n, c: sizes[l]!, f, wOff: p!.weights, bOff: p!.biases, aOff };
        passes.push(densePass('dense_backward_params', { 0: name, 1: dy, 2: 'grads' }, dims, blocks4(sizes[l]!, f) + f, blocks4(sizes[l]!, f) + f / 4, 2 * n * (sizes[l]! + 1) * f));
        if (l > 0) passes.push(densePass('dense_backward_input', { 0: dy, 1: 'params', 2: dx }, { ...dims, aOff: 0 }, blocks4(n, sizes[l]!), blocks4(n, sizes[l]!), 2 * n * sizes[l]! * f));
      } else if (layer.type === 'relu') {
        if (l > 0) passes.push(pass('relu_backward', { 0: `act${l + 1}`, 1: dy, 2: dx }, { n: inputs }, inputs, inputs));
      } else if (layer.type === 'conv2d') {
        const fan = c * layer.kernel ** 2;
        const dims = { n, c, h, w, f, k: layer.kernel, oh, ow, wOff: p!.weights, bOff: p!.biases, aOff };
        // A workgroup per 4×4 block of weights, and per 4 filters' biases (train.wgsl).
        passes.push(pass('conv_backward_params', { 0: name, 1: dy, 2: 'grads' }, dims, wg * Math.ceil(f / 4) * (Math.ceil(fan / 4) + 1), 2 * n * f * (fan + 1) * oh * ow));
        if (l > 0) passes.push(pass('conv_backward_input', { 0: dy, 1: 'params', 2: dx }, { ...dims, aOff: 0 }, inputs, 2 * inputs * f * layer.kernel ** 2));
      } else if (l > 0) {
        passes.push(pass('maxpool_backward', { 0: name, 1: dy, 2: dx }, { n, c, h, w, k: layer.size, oh, ow, aOff }, inputs, inputs * layer.size ** 2));
      }
    }
  }
  const [grads, tallies] = await runPasses(device, { label: 'train/step', buffers, passes, read: ['grads', `d${last}`] }, options);
  const t = new Float32Array(tallies!, tally * 4, 2 * m);
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < m; i++) (loss += t[i]!), (correct += t[m + i]!);
  return { grads: new Float32Array(grads!), loss, correct, rows };
}
