import { z } from 'zod';
import { mulberry32 } from '../../shaders/random.ts';

/**
 * A model as `train` and `infer` take it: a stack of layers over samples of one shape, ending
 * in one score per class (softmax cross-entropy is the loss). Activations are row-major
 * [rows, features]; a sample of shape [C, H, W] is its C·H·W features in that order, so a dense
 * layer after a convolution flattens for nothing. Convolutions are stride 1 with no padding
 * ("valid"); max-pools are `size`×`size` with stride `size` (a ragged edge is dropped).
 */
export const layerSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('dense'), units: z.number().int().min(1).max(4096) }).strict(),
  z.object({ type: z.literal('relu') }).strict(),
  z.object({ type: z.literal('conv2d'), filters: z.number().int().min(1).max(256), kernel: z.number().int().min(1).max(7) }).strict(),
  z.object({ type: z.literal('maxpool'), size: z.number().int().min(2).max(4) }).strict(),
]);
export type Layer = z.infer<typeof layerSchema>;

/** A sample's shape: [features], or [channels, height, width]. */
export type Shape = [number] | [number, number, number];

export class ModelError extends Error {}

/** Where a layer's weights and biases sit in the one parameter vector. */
export interface Params {
  weights: number;
  biases: number;
  /** Inputs a unit of the layer sees (for initialisation). */
  fanIn: number;
}

export interface ModelPlan {
  layers: Layer[];
  input: Shape;
  /** The shape after each layer; the last is [classes]. */
  shapes: Shape[];
  /** Per layer: its parameters' offsets, or null (relu, maxpool). */
  params: (Params | null)[];
  /** Parameters in all. */
  size: number;
  classes: number;
  /** Multiply-adds ×2 of one sample's forward pass (its backward is about twice that). */
  flopsForward: number;
}

export const features = (shape: Shape) => shape.reduce((a, b) => a * b, 1);
const shapeText = (shape: Shape) => `[${shape.join(', ')}]`;

/** Lays the model out over samples of `input` shape; says what does not fit, layer by layer. */
export function planModel(input: Shape, layers: Layer[], classes: number): ModelPlan {
  if (!layers.length) throw new ModelError('the model has no layers: give at least one dense layer with as many units as classes');
  const shapes: Shape[] = [];
  const params: (Params | null)[] = [];
  let shape = input;
  let size = 0;
  let flops = 0;
  for (const [i, layer] of layers.entries()) {
    const where = `layer ${i + 1} (${layer.type})`;
    if (layer.type === 'dense') {
      const n = features(shape);
      params.push({ weights: size, biases: size + n * layer.units, fanIn: n });
      size += n * layer.units + layer.units;
      flops += 2 * n * layer.units;
      shape = [layer.units];
    } else if (layer.type === 'relu') {
      params.push(null);
      flops += features(shape);
    } else {
      if (shape.length !== 3) throw new ModelError(`${where} needs samples of shape [channels, height, width], and gets ${shapeText(shape)}: put convolutions and pools before the dense layers`);
      const [c, h, w] = shape;
      if (layer.type === 'conv2d') {
        const k = layer.kernel;
        if (h < k || w < k) throw new ModelError(`${where}: a ${k}×${k} kernel does not fit a ${h}×${w} input`);
        const fanIn = c * k * k;
        params.push({ weights: size, biases: size + layer.filters * fanIn, fanIn });
        size += layer.filters * fanIn + layer.filters;
        shape = [layer.filters, h - k + 1, w - k + 1];
        flops += 2 * fanIn * features(shape);
      } else {
        const s = layer.size;
        if (h < s || w < s) throw new ModelError(`${where}: a ${s}×${s} pool does not fit a ${h}×${w} input`);
        params.push(null);
        shape = [c, Math.floor(h / s), Math.floor(w / s)];
        flops += features(shape) * s * s;
      }
    }
    shapes.push(shape);
  }
  if (shape.length !== 1 || shape[0] !== classes) {
    throw new ModelError(`the last layer gives ${shapeText(shape)} and the data has ${classes} classes: end with a dense layer of ${classes} units`);
  }
  if (size > 16 * 1024 * 1024) throw new ModelError(`the model has ${size} parameters; at most 16,777,216 train here`);
  return { layers, input, shapes, params, size, classes, flopsForward: flops };
}

/**
 * Initial parameters from a seed: He-uniform weights (U(±√(6/fan-in)), right for ReLU nets),
 * zero biases. mulberry32, so that every node and the coordinator make the same vector.
 */
export function initialParams(plan: ModelPlan, seed: number): Float32Array {
  const out = new Float32Array(plan.size);
  const next = mulberry32(seed);
  for (const p of plan.params) {
    if (!p) continue;
    const bound = Math.sqrt(6 / p.fanIn);
    for (let j = p.weights; j < p.biases; j++) out[j] = (next() * 2 - 1) * bound;
  }
  return out;
}
