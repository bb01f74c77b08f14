import { planModel, type Layer, type ModelPlan, type Shape } from './model.ts';
import type { Augment } from './data.ts';
import { gradients, reluFlips, type ShardGradient } from './reference.ts';
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

/**
 * Whether `got` is this unit's result as some machine's rounding could give it (the
 * coordinator's check): it agrees with the CPU's (gradientsAgree), or with the CPU's once the
 * ReLUs at their edge that went the other way on that machine are flipped (reluFlips). Step by
 * step, each edge whose flip could move the result by a tenth of the tolerance or more (the one
 * with the largest gradient first) is tried, and kept when the result it leads to — the later
 * local steps recomputed from the weights it moved — is closer to `got`. A result the edges
 * cannot explain is refused as before; one they can is a result an honest machine gives.
 */
export function shardMatches(plan: ModelPlan, p: TrainParams, params: Float32Array, x: Float32Array, labels: Float32Array, got: ShardGradient): boolean {
  const rows = p.indices.length;
  const steps = p.local?.steps ?? 1;
  const per = rows / steps;
  const width = x.length / rows;
  const rowsOf = (t: number) => [x.subarray(t * per * width, (t + 1) * per * width), labels.subarray(t * per, (t + 1) * per)] as const;
  // The unit's steps with the gradients `given` for the first of them, the rest computed here.
  const run = (given: ShardGradient[]) => {
    const thetas: Float32Array[] = [];
    const grads: ShardGradient[] = [];
    const step = (theta: Float32Array) => {
      const g = given[thetas.length] ?? gradients(plan, theta, ...rowsOf(thetas.length), per);
      thetas.push(theta);
      grads.push(g);
      return g;
    };
    const result = p.local ? localStepsSync(params, p, (s) => step(s.params)) : step(params);
    return { result, thetas, grads, apart: distance(got.grads, result.grads) };
  };
  let best = run([]);
  if (gradientsAgree(got, best.result)) return true;
  const scale = p.local ? p.local.learningRate / per : 1;
  const material = (0.1 * gradientTolerance * Math.sqrt(distance(got.grads, new Float32Array(got.grads.length)))) / scale;
  for (let t = 0; t < steps; t++) {
    for (const flip of reluFlips(plan, best.thetas[t]!, ...rowsOf(t), per)) {
      if (Math.sqrt(distance(flip, new Float32Array(flip.length))) < material) continue;
      const g = best.grads[t]!;
      const tried = run([...best.grads.slice(0, t), { ...g, grads: g.grads.map((v, i) => v + flip[i]!) }]);
      if (tried.apart < best.apart) best = tried;
    }
  }
  return gradientsAgree(got, best.result);
}

/** The squared Euclidean distance between two vectors. */
function distance(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i]! - b[i]!) ** 2;
  return sum;
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
 * Whether two shard results are one computation's, up to float32 rounding: the rows equal, the
 * hits within one (a near-tie's argmax may go either way), the loss within `lossTolerance` of
 * itself, and the gradients apart by at most `gradientTolerance` of the larger one's length
 * (Euclidean). The length, not each value: a max-pool window whose two largest inputs are nearly
 * equal (often near 0, at a ReLU's edge) can pick a different one on the GPU than on the CPU,
 * and the gradient then goes to the other input — a few values off by up to 6e-4 of the largest
 * (measured: 4 of 400 honest shards of a CNN training on the digits), while the whole gradient
 * moved by at most 2.9e-4 of its length. Smooth rounding is far below that (3e-7 of the length;
 * 1e-5 of the largest value on the kernel tests' shapes), and so is the loss's (1e-7 of it: a
 * pool's output is the same value whichever input wins). 3e-3 leaves 10× headroom over a pool's
 * flip and still refuses what a poisoner sends: sign-flipped (2 of the length), noise of the
 * same size (about 1.4), last round's gradient (6-8e-2 mid-training), scaled by 1.003 or more.
 */
export const gradientTolerance = 3e-3;
export const lossTolerance = 1e-4;

export function gradientsAgree(x: ShardGradient, y: ShardGradient): boolean {
  if (x.rows !== y.rows || Math.abs(x.correct - y.correct) > 1) return false;
  if (!(Math.abs(x.loss - y.loss) <= lossTolerance * Math.max(1e-6, Math.abs(x.loss), Math.abs(y.loss)))) return false;
  let apart = 0, xx = 0, yy = 0;
  for (let i = 0; i < x.grads.length; i++) {
    const a = x.grads[i]!, b = y.grads[i]!;
    apart += (a - b) * (a - b);
    xx += a * a;
    yy += b * b;
  }
  // NaN anywhere fails the comparison.
  return apart <= gradientTolerance ** 2 * Math.max(xx, yy, 1e-12);
}
