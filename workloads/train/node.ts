import type { NodeKernel } from '../types.ts';
import { dataset, gather } from './data.ts';
import { forwardGpu, shardGradientGpu } from './gpu.ts';
import { rowsFrom, type InferParams } from './infer-unit.ts';
import { forward } from './reference.ts';
import { encodeGradient, localStepsAsync, modelOf, shardGradient, type TrainParams } from './unit.ts';
import { floatsOf } from '../../shaders/bytes.ts';

/** The unit's rows and weights from its inputs: [weights, features .npy, labels .npy]. */
function shardOf(inputs: Uint8Array[], p: TrainParams) {
  const [weights, features, labels] = inputs;
  if (!weights || !features || !labels) throw new Error('a train unit needs its weights, features and labels');
  const { x, labels: y } = gather(dataset(features, labels), p.indices, p.augment);
  return { params: floatsOf(weights), x, y };
}

/** train's node half: the gradient of the round's weights over one shard of its batch. */
export const trainNode: NodeKernel = {
  kind: 'train',

  async run(gpu, inputs, raw) {
    const p = raw as unknown as TrainParams;
    const { params, x, y } = shardOf(inputs, p);
    const plan = modelOf(p);
    const options = { dispatchFlopsMax: gpu.dispatchFlopsMax, ...(gpu.pacer ? { pacer: gpu.pacer } : {}) };
    if (!p.local) return encodeGradient(await shardGradientGpu(gpu.device, plan, params, x, y, p.indices.length, options));
    const width = x.length / p.indices.length;
    return encodeGradient(await localStepsAsync(params, p, (s) => shardGradientGpu(gpu.device, plan, s.params, x.subarray(s.from * width, (s.from + s.rows) * width), y.subarray(s.from, s.from + s.rows), s.rows, options)));
  },

  describe(raw) {
    const p = raw as unknown as TrainParams;
    const kinds = p.model.layers.some((l) => l.type === 'conv2d') ? 'a convolutional network' : 'a neural network';
    const what = p.local ? `${p.local.steps} steps over ${p.indices.length} samples` : `the gradient over ${p.indices.length} samples`;
    return `training ${kinds}: ${what}, round ${p.round + 1}`;
  },

  cpu(inputs, raw) {
    const p = raw as unknown as TrainParams;
    const { params, x, y } = shardOf(inputs, p);
    return encodeGradient(shardGradient(modelOf(p), p, params, x, y));
  },
};

/** infer's node half: a model's scores for a range of rows. Inputs: [parameters, features .npy]. */
export const inferNode: NodeKernel = {
  kind: 'infer',

  async run(gpu, [params, features], raw) {
    const p = raw as unknown as InferParams;
    if (!params || !features) throw new Error('an infer unit needs its parameters and features');
    const scores = await forwardGpu(gpu.device, modelOf(p as unknown as TrainParams), floatsOf(params), rowsFrom(features, p.from, p.count), p.count, { dispatchFlopsMax: gpu.dispatchFlopsMax, ...(gpu.pacer ? { pacer: gpu.pacer } : {}) });
    return new Uint8Array(scores.buffer);
  },

  describe(raw) {
    const p = raw as unknown as InferParams;
    return `a trained network's predictions for ${p.count} rows`;
  },

  cpu([params, features], raw) {
    const p = raw as unknown as InferParams;
    if (!params || !features) throw new Error('an infer unit needs its parameters and features');
    const scores = forward(modelOf(p as unknown as TrainParams), floatsOf(params), rowsFrom(features, p.from, p.count), p.count).at(-1)!;
    return new Uint8Array(scores.buffer, scores.byteOffset, scores.byteLength).slice();
  },
};
