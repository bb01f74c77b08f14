import { planModel, type Layer, type ModelPlan, type Shape } from './model.ts';
import type { Augment } from './data.ts';
import type { ShardGradient } from './reference.ts';
import { floatsOf } from '../../shaders/bytes.ts';

/**
 * One unit of a `train` round, as both halves read it: the gradient of the round's weights
 * over one shard of its batch. Inputs: [weights (float32 vector), features .npy, labels .npy];
 * `indices` are the shard's rows of the dataset. The result is float32: the gradient summed
 * over the rows (the coordinator divides by all the rows it kept), then the summed loss, the
 * hits and the rows.
 */
export interface TrainParams {
  round: number;
  model: { input: Shape; layers: Layer[]; classes: number };
  indices: number[];
  /** Random shifts of the rows (data.ts), drawn from this round's seed. */
  augment?: Augment;
}

const plans = new Map<string, ModelPlan>();

/** The unit's model laid out (kept: every unit of a job has the same). */
export function modelOf(params: TrainParams): ModelPlan {
  const key = JSON.stringify(params.model);
  let plan = plans.get(key);
  if (!plan) {
    plan = planModel(params.model.input, params.model.layers, params.model.classes);
    if (plans.size > 64) plans.clear();
    plans.set(key, plan);
  }
  return plan;
}

export function encodeGradient(g: ShardGradient): Uint8Array {
  const out = new Float32Array(g.grads.length + 3);
  out.set(g.grads);
  out.set([g.loss, g.correct, g.rows], g.grads.length);
  return new Uint8Array(out.buffer);
}

/** The result's parts; null when its length is not the model's. */
export function decodeGradient(plan: ModelPlan, bytes: Uint8Array): ShardGradient | null {
  if (bytes.byteLength !== (plan.size + 3) * 4) return null;
  const all = floatsOf(bytes);
  return { grads: all.subarray(0, plan.size), loss: all[plan.size]!, correct: all[plan.size + 1]!, rows: all[plan.size + 2]! };
}

/**
 * Whether two shard gradients are one computation's, up to float32 summation order: every value
 * within `gradientTolerance` of the larger gradient's largest magnitude, the loss within it of
 * itself, the rows equal and the hits within one (a near-tie's argmax may go either way). On
 * the kernel tests' shapes the GPU and the reference differ by under 1e-5 of the largest value,
 * and sums over n terms drift by about √n·6e-8 (784 terms: 2e-6): 1e-4 leaves 10-50× headroom,
 * while a gradient scaled by 1.001, sign-flipped, random, or taken at last round's weights is
 * off by far more.
 */
export const gradientTolerance = 1e-4;

export function gradientsAgree(x: ShardGradient, y: ShardGradient): boolean {
  if (x.rows !== y.rows || Math.abs(x.correct - y.correct) > 1) return false;
  if (!(Math.abs(x.loss - y.loss) <= gradientTolerance * Math.max(1e-6, Math.abs(x.loss), Math.abs(y.loss)))) return false;
  let scale = 1e-6;
  for (let i = 0; i < x.grads.length; i++) scale = Math.max(scale, Math.abs(x.grads[i]!), Math.abs(y.grads[i]!));
  const bound = gradientTolerance * scale;
  for (let i = 0; i < x.grads.length; i++) if (!(Math.abs(x.grads[i]! - y.grads[i]!) <= bound)) return false;
  return true;
}
