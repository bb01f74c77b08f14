import { planModel, type Layer, type ModelPlan, type Shape } from './model.ts';
import type { Augment } from './data.ts';
import { gradients, type ShardGradient } from './reference.ts';
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
  /**
   * Local steps (a communication-efficient round): the unit takes `steps` steps of plain SGD at
   * `learningRate` from the round's weights, step t on the t-th of `steps` equal runs of its rows,
   * and its result is the weights' change θ₀ − θ_end in place of a gradient (then the loss and
   * the hits summed over its steps, each at that step's weights, and the rows).
   */
  local?: { steps: number; learningRate: number };
}

/** One step of a unit with local steps: the weights to take the gradient at, over rows [from, from + rows) of the unit. */
export interface LocalStep {
  params: Float32Array;
  from: number;
  rows: number;
}

/**
 * A unit's local steps, for both halves (the node's gradients on the GPU, the coordinator's
 * check on the CPU): yields each step's weights and rows, is given back that step's summed
 * gradient, and returns the unit's result. Each step is θ ← θ − η·g / rows in float32, in this
 * order on every machine, so two runs differ only by their gradients' rounding.
 */
export function* localSteps(params: Float32Array, p: TrainParams): Generator<LocalStep, ShardGradient, ShardGradient> {
  const { steps, learningRate } = p.local!;
  const per = p.indices.length / steps;
  let theta = params;
  let loss = 0, correct = 0;
  for (let t = 0; t < steps; t++) {
    const g = yield { params: theta, from: t * per, rows: per };
    const next = new Float32Array(theta.length);
    const rate = learningRate / per;
    for (let i = 0; i < next.length; i++) next[i] = theta[i]! - rate * g.grads[i]!;
    theta = next;
    loss += g.loss;
    correct += g.correct;
  }
  const delta = new Float32Array(params.length);
  for (let i = 0; i < delta.length; i++) delta[i] = params[i]! - theta[i]!;
  return { grads: delta, loss, correct, rows: p.indices.length };
}

/** Drives localSteps with a gradient function, synchronous (the CPU reference). */
export function localStepsSync(params: Float32Array, p: TrainParams, gradient: (s: LocalStep) => ShardGradient): ShardGradient {
  const steps = localSteps(params, p);
  let next = steps.next();
  while (!next.done) next = steps.next(gradient(next.value));
  return next.value;
}

/** A unit's result on the CPU (the reference, and the coordinator's check): its gradient, or its local steps' change. */
export function shardGradient(plan: ModelPlan, p: TrainParams, params: Float32Array, x: Float32Array, labels: Float32Array): ShardGradient {
  if (!p.local) return gradients(plan, params, x, labels, p.indices.length);
  const width = x.length / p.indices.length;
  return localStepsSync(params, p, (s) => gradients(plan, s.params, x.subarray(s.from * width, (s.from + s.rows) * width), labels.subarray(s.from, s.from + s.rows), s.rows));
}

/** Drives localSteps with an asynchronous gradient function (the GPU). */
export async function localStepsAsync(params: Float32Array, p: TrainParams, gradient: (s: LocalStep) => Promise<ShardGradient>): Promise<ShardGradient> {
  const steps = localSteps(params, p);
  let next = steps.next();
  while (!next.done) next = steps.next(await gradient(next.value));
  return next.value;
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
