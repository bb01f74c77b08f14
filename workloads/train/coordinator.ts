import { zipSync } from 'fflate';
import { z } from 'zod';
import { badRequest } from '../../server/errors.ts';
import type { BlobStore } from '../../server/blobs/store.ts';
import { encodeNpy } from '../../shaders/npy.ts';
import { mulberry32 } from '../../shaders/random.ts';
import type { UnitDraft, Workload } from '../types.ts';
import { DataError, dataset, gather, type Dataset } from './data.ts';
import { mnist } from './mnist.ts';
import { features, initialParams, layerSchema, ModelError, planModel, type ModelPlan } from './model.ts';
import { initialState, optimizerStep } from './optimizer.ts';
import { argmax, forward } from './reference.ts';
import { encodeSafetensors } from './safetensors.ts';
import { decodeGradient, gradientsAgree, modelOf, shardMatches, type TrainParams } from './unit.ts';
import { floatsOf } from '../../shaders/bytes.ts';

/**
 * train: data-parallel training of a small network (an MLP or a CNN, model.ts) with
 * softmax cross-entropy. A job has rounds (Workload.advance): round r's units each compute the
 * gradient of round r's weights over one shard of the round's batch; once all are verified the
 * coordinator sums them, divides by the rows, takes an optimizer step and publishes the next
 * weights as a blob, and round r + 1's units are made. The batch of round r is rows
 * [r·batch, (r + 1)·batch) of the training set in the order of epoch ⌊r·batch / rows⌋'s
 * permutation (mulberry32 from seed and epoch), so a run is a function of its spec: trained on
 * one node or forty, the same weights come out, to float32 summation order.
 *
 * Communication-efficient rounds (spec.localSteps = H > 1, as DiLoCo and INTELLECT-1): each
 * unit takes H steps of plain SGD on its own rows from the round's weights and returns the
 * weights' change; the round averages the changes (weighed by rows) and the optimizer steps on
 * that average as if it were a gradient (DiLoCo's outer step: SGD, rate 0.7, momentum 0.9). A
 * round is then H batches, so a job needs H× fewer rounds: H× fewer weight downloads and
 * result uploads, and H× fewer waits for a round's slowest unit. Why it is an option and not the
 * default: when a unit's transfer is small next to its work (on this network's MLPs a unit's
 * weights are 0.1-1 MB against 0.1-1 s of work), one step a round learns more per sample (3
 * epochs of 784-128-10 here: Adam a step a round 91.2%; 8 local steps 89.0-90.4% in 8× fewer
 * rounds, no worse than one SGD step a round at 88.3%; bench/train-notes.md). When a round's
 * transfer or its slowest node dominates (large models, tabs on home links across continents)
 * local steps keep the nodes computing (INTELLECT-1 reports 83-96% compute utilisation).
 * Local steps are SGD, not Adam: the check recomputes them, and plain SGD keeps a GPU's and
 * the CPU's runs within float32 rounding of each other (1e-6 of the largest change measured
 * over 16 steps), so the same tolerance holds (unit.ts).
 *
 * What a round's weights are promised: each shard's gradient was recomputed on the
 * coordinator's CPU and agreed within gradientTolerance, up to ReLUs at their edge (unit.ts's
 * shardMatches), or came unchecked from a trusted node and passed the round's screen; see
 * server/verify/sampled.ts for what that bounds.
 * With every shard checked (untrusted nodes, or a sample that drew them all) the weights are the
 * optimizer's step on the true mean gradient of the batch, up to float32 summation order.
 */
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'the sha256 of an uploaded file (PUT /api/blobs)');

export const trainSpec = z
  .object({
    model: z.object({ layers: z.array(layerSchema).min(1).max(32) }).strict(),
    data: z.union([
      z.object({ dataset: z.literal('mnist').describe("the `mnist` package's 10,000 handwritten digits: 8,000 to train on, 2,000 held out") }).strict(),
      z
        .object({
          features: sha256.describe("a .npy of float32 or uint8 pixels, shape (rows, features), (rows, h, w) or (rows, c, h, w)"),
          labels: sha256.describe('a .npy of whole class numbers, shape (rows,)'),
          testFeatures: sha256.optional(),
          testLabels: sha256.optional(),
        })
        .strict(),
    ]),
    batch: z.number().int().min(1).max(8192).default(256).describe('rows a round averages its gradient over'),
    shardRows: z.number().int().min(1).max(4096).default(64).describe('rows of a unit (a round has ⌈batch / shardRows⌉ units)'),
    epochs: z.number().positive().max(1000).optional().describe('passes over the training rows (or give rounds)'),
    rounds: z.number().int().min(1).max(10_000).optional(),
    optimizer: z.enum(['sgd', 'adam']).default('adam'),
    learningRate: z.number().positive().max(10).default(0.001),
    schedule: z.enum(['cosine', 'constant']).default('cosine').describe('the learning rate over the rounds: cosine decays it to 0 by the last round'),
    momentum: z.number().min(0).max(0.999).default(0.9).describe('SGD only'),
    seed: z.number().int().min(0).max(2 ** 32 - 1).default(1),
    shift: z.number().int().min(0).max(4).default(0).describe('image rows: random shifts of up to this many pixels (data augmentation)'),
    roundDeadlineSeconds: z.number().min(1).max(3600).default(120).describe('a round waits this long for its last shards, then goes on without them (with at least half in)'),
    localSteps: z.number().int().min(1).max(64).default(1).describe('communication-efficient rounds: each unit takes this many SGD steps of shardRows rows on its own, and the round averages the weights\' changes (a round covers localSteps × batch rows); optimizer and learningRate then step on that average'),
    localLearningRate: z.number().positive().max(10).default(0.1).describe('the units\' own SGD steps, with localSteps > 1'),
  })
  .strict();
export type TrainSpec = z.infer<typeof trainSpec>;

/** One round on the job's curve: the batch's loss and accuracy at the round's weights (before its step). */
export interface CurvePoint {
  round: number;
  loss: number;
  accuracy: number;
  rows: number;
}

interface Plan {
  model: TrainParams['model'];
  size: number;
  flopsForward: number;
  train: { features: string; labels: string; rows: number };
  test: { features: string; labels: string; rows: number } | null;
  batch: number;
  shardRows: number;
  rounds: number;
  optimizer: { kind: 'sgd' | 'adam'; learningRate: number; momentum: number };
  schedule: 'cosine' | 'constant';
  seed: number;
  shift: number;
  roundDeadlineSeconds: number;
  /** Local steps per unit (DiLoCo-style rounds), or null: one gradient per unit. */
  local: { steps: number; learningRate: number } | null;
  /** The round whose units are out (0-based), its weights, and the optimizer's state (null before the first step). */
  round: number;
  weights: string;
  state: string | null;
  curve: CurvePoint[];
  testAccuracy?: number;
}

/** The training rows of round `round`'s batch, in the epoch's order. */
export function batchRows(plan: Pick<Plan, 'batch' | 'seed'> & { train: { rows: number } }, round: number): number[] {
  const n = plan.train.rows;
  const out: number[] = [];
  let epoch = -1;
  let order: number[] = [];
  for (let g = round * plan.batch; g < (round + 1) * plan.batch; g++) {
    const e = Math.floor(g / n);
    if (e !== epoch) (epoch = e), (order = permutation(n, plan.seed, e));
    out.push(order[g % n]!);
  }
  return out;
}

const orders = new Map<string, number[]>();
function permutation(n: number, seed: number, epoch: number): number[] {
  const key = `${n}:${seed}:${epoch}`;
  let order = orders.get(key);
  if (!order) {
    order = Array.from({ length: n }, (_, i) => i);
    const next = mulberry32((seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    if (orders.size > 32) orders.clear();
    orders.set(key, order);
  }
  return order;
}

/** Round `round`'s units: its batch cut into shards of shardRows (with local steps: localSteps × batch rows, localSteps × shardRows a unit). */
function roundUnits(plan: Plan, round: number): UnitDraft[] {
  const steps = plan.local?.steps ?? 1;
  const rows = batchRows({ ...plan, batch: plan.batch * steps }, round);
  const units: UnitDraft[] = [];
  for (let i = 0; i < rows.length; i += plan.shardRows * steps) {
    const indices = rows.slice(i, i + plan.shardRows * steps);
    const params: TrainParams = {
      round,
      model: plan.model,
      indices,
      ...(plan.shift ? { augment: { shift: plan.shift, seed: (Math.imul(plan.seed, 0x9e3779b1) ^ (round + 1)) >>> 0 } } : {}),
      // A ragged last unit takes fewer steps, each of shardRows rows where they divide evenly.
      ...(plan.local ? { local: { steps: indices.length % steps === 0 ? steps : 1, learningRate: plan.local.learningRate } } : {}),
    };
    units.push({ params: params as unknown as Record<string, unknown>, inputs: [plan.weights, plan.train.features, plan.train.labels], flops: 3 * plan.flopsForward * indices.length });
  }
  return units;
}

const f32 = floatsOf;
const bytesOf = (v: Float32Array) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

/** Reads an uploaded dataset, or says what is wrong with it (400). */
async function uploaded(blobs: BlobStore, features: string, labels: string, where: string): Promise<Dataset> {
  for (const [sha, what] of [[features, 'features'], [labels, 'labels']] as const) {
    if (!(await blobs.has(sha))) throw badRequest(`${where}: no blob ${sha.slice(0, 12)}… is stored for the ${what}: upload the .npy first (PUT /api/blobs).`, 'bad_data');
  }
  try {
    return dataset(await blobs.read(features), await blobs.read(labels));
  } catch (err) {
    if (err instanceof DataError) throw badRequest(`${where}: ${err.message}.`, 'bad_data');
    throw err;
  }
}

/** The share of `data`'s rows the model (at `params`) gets right, on the CPU (at the end of a job, and for infer's check). */
export function accuracy(model: ModelPlan, params: Float32Array, data: Dataset): number {
  let right = 0;
  const step = 256;
  for (let from = 0; from < data.rows; from += step) {
    const indices = Array.from({ length: Math.min(step, data.rows - from) }, (_, i) => from + i);
    const { x, labels } = gather(data, indices);
    const logits = forward(model, params, x, indices.length).at(-1)!;
    for (let r = 0; r < indices.length; r++) if (argmax(logits, r, model.classes) === labels[r]) right++;
  }
  return right / data.rows;
}

/** The weights as tensors: `layers.{i}.weight` and `.bias` (dense [inputs, units], as x·W + b; conv [filters, channels, k, k]). */
export function tensorsOf(model: ModelPlan, params: Float32Array) {
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  model.params.forEach((p, i) => {
    const layer = model.layers[i]!;
    if (!p || (layer.type !== 'dense' && layer.type !== 'conv2d')) return;
    const [shape, biases] = layer.type === 'dense' ? [[p.fanIn, layer.units], layer.units] : [[layer.filters, p.fanIn / layer.kernel ** 2, layer.kernel, layer.kernel], layer.filters];
    tensors[`layers.${i}.weight`] = { shape, data: params.slice(p.weights, p.biases) };
    tensors[`layers.${i}.bias`] = { shape: [biases], data: params.slice(p.biases, p.biases + biases) };
  });
  return tensors;
}

export const train: Workload<TrainSpec> = {
  kind: 'train',
  description: 'Data-parallel training of an MLP or a small CNN with softmax cross-entropy, in rounds: each unit computes the gradient of one shard of the batch, the coordinator averages them and steps (SGD with momentum or Adam). Result: a zip of the weights (.safetensors and .npy per layer) and the loss and accuracy curve.',
  specSchema: trainSpec,
  examples: [
    { model: { layers: [{ type: 'dense', units: 64 }, { type: 'relu' }, { type: 'dense', units: 10 }] }, data: { dataset: 'mnist' }, batch: 256, shardRows: 64, epochs: 3, optimizer: 'adam', learningRate: 0.003, schedule: 'cosine', momentum: 0.9, seed: 1, shift: 2, roundDeadlineSeconds: 120, localSteps: 1, localLearningRate: 0.1 },
    // Communication-efficient rounds: 8 local steps a unit, 12 rounds for 3 epochs (89-90% here; bench/train-notes.md).
    { model: { layers: [{ type: 'dense', units: 64 }, { type: 'relu' }, { type: 'dense', units: 10 }] }, data: { dataset: 'mnist' }, batch: 256, shardRows: 64, epochs: 3, optimizer: 'sgd', learningRate: 0.7, schedule: 'constant', momentum: 0.9, seed: 1, shift: 0, roundDeadlineSeconds: 120, localSteps: 8, localLearningRate: 0.2 },
    { model: { layers: [{ type: 'conv2d', filters: 8, kernel: 3 }, { type: 'relu' }, { type: 'maxpool', size: 2 }, { type: 'dense', units: 10 }] }, data: { dataset: 'mnist' }, batch: 256, shardRows: 64, epochs: 3, optimizer: 'adam', learningRate: 0.003, schedule: 'cosine', momentum: 0.9, seed: 1, shift: 2, roundDeadlineSeconds: 120, localSteps: 1, localLearningRate: 0.1 },
  ],

  async shard(spec, blobs, accountId) {
    let trainSet: Plan['train'], testSet: Plan['test'], shape, classes;
    if ('dataset' in spec.data) {
      const { train: t, test: h } = mnist();
      const put = async (b: Uint8Array) => (await blobs.put(b, accountId)).sha256;
      trainSet = { features: await put(t.features), labels: await put(t.labels), rows: t.rows };
      testSet = { features: await put(h.features), labels: await put(h.labels), rows: h.rows };
      [shape, classes] = [[1, 28, 28] as [number, number, number], 10];
    } else {
      const d = await uploaded(blobs, spec.data.features, spec.data.labels, 'spec.data');
      trainSet = { features: spec.data.features, labels: spec.data.labels, rows: d.rows };
      [shape, classes] = [d.shape, d.classes];
      testSet = null;
      if (!spec.data.testFeatures !== !spec.data.testLabels) throw badRequest('spec.data: give both testFeatures and testLabels, or neither.', 'bad_data');
      if (spec.data.testFeatures && spec.data.testLabels) {
        const t = await uploaded(blobs, spec.data.testFeatures, spec.data.testLabels, 'spec.data (test)');
        if (features(t.shape) !== features(d.shape)) throw badRequest(`spec.data: the test rows have ${features(t.shape)} features and the training rows ${features(d.shape)}.`, 'bad_data');
        testSet = { features: spec.data.testFeatures, labels: spec.data.testLabels, rows: t.rows };
      }
    }
    let model: ModelPlan;
    try {
      model = planModel(shape, spec.model.layers, classes);
    } catch (err) {
      if (err instanceof ModelError) throw badRequest(`spec.model: ${err.message}.`, 'bad_model');
      throw err;
    }
    if (spec.rounds === undefined && spec.epochs === undefined) throw badRequest('spec: give epochs (passes over the training rows) or rounds.', 'bad_spec');
    const rounds = spec.rounds ?? Math.ceil((spec.epochs! * trainSet.rows) / (spec.batch * spec.localSteps));
    if (rounds > 10_000) throw badRequest(`spec: that is ${rounds} rounds; at most 10,000 (fewer epochs or a larger batch).`, 'bad_spec');
    const weights = (await blobs.put(bytesOf(initialParams(model, spec.seed)), accountId)).sha256;
    const plan: Plan = {
      model: { input: model.input, layers: model.layers, classes },
      size: model.size,
      flopsForward: model.flopsForward,
      train: trainSet,
      test: testSet,
      batch: spec.batch,
      shardRows: spec.shardRows,
      rounds,
      optimizer: { kind: spec.optimizer, learningRate: spec.learningRate, momentum: spec.momentum },
      schedule: spec.schedule,
      seed: spec.seed,
      shift: shape.length === 3 ? spec.shift : 0,
      roundDeadlineSeconds: spec.roundDeadlineSeconds,
      local: spec.localSteps > 1 ? { steps: spec.localSteps, learningRate: spec.localLearningRate } : null,
      round: 0,
      weights,
      state: null,
      curve: [],
    };
    const units = roundUnits(plan, 0);
    const roundFlops = units.reduce((s, u) => s + u.flops, 0);
    return { plan: plan as unknown as Record<string, unknown>, units, flops: roundFlops * rounds, laterUnits: { count: units.length * (rounds - 1), flops: roundFlops * (rounds - 1) } };
  },

  malformed(params, result) {
    const p = params as unknown as TrainParams;
    const g = decodeGradient(modelOf(p), result);
    if (!g) return `a shard's result is ${modelOf(p).size + 3} float32 values (the gradient, the loss, the hits, the rows); got ${result.byteLength} bytes`;
    if (g.rows !== p.indices.length) return `the result says ${g.rows} rows; the shard has ${p.indices.length}`;
    if (!Number.isFinite(g.loss) || g.grads.some((v) => !Number.isFinite(v))) return 'the gradient holds NaN or infinite values';
    if (g.loss < 0 || !(g.correct >= 0 && g.correct <= g.rows && Number.isInteger(g.correct))) return `the result says a loss of ${g.loss} and ${g.correct} rows right of ${g.rows}`;
    return null;
  },

  checkOffThread: true,

  /** Recomputes the shard's gradient on the CPU and compares, allowing for ReLUs at their edge (shardMatches). */
  check(params, inputs, result) {
    const p = params as unknown as TrainParams;
    const model = modelOf(p);
    const got = decodeGradient(model, result);
    if (!got) return false;
    const { x, labels } = gather(dataset(inputs[1]!, inputs[2]!), p.indices, p.augment);
    return shardMatches(model, p, f32(inputs[0]!), x, labels, got);
  },

  /**
   * Trusted nodes' gradients are recomputed on a sample (server/verify/sampled.ts: at least 20%,
   * so a node expects at most 4 unchecked lies before it is caught). The screen names a gradient
   * whose norm is over 3× or under ⅓ of the median of the round's others: honest 64-row shards
   * of a training MLP measured 0.44-1.8× their round's median over 90 rounds, so an honest
   * gradient is rarely rechecked and a scaled one never moves the weights. Direction is no
   * screen: honest shards' cosines with the rest of their round went from 0.57 to −0.55 (median
   * 0.32), so a sign flip or noise of the right size looks like an honest shard; those are the
   * sample's to catch.
   */
  sampled: {
    rateMin: 0.2,
    screen(_plan, round) {
      if (round.length < 2) return [];
      const norms = round.map((u) => {
        const g = decodeGradient(modelOf(u.params as unknown as TrainParams), u.result)!;
        let s = 0;
        for (const v of g.grads) s += v * v;
        return Math.sqrt(s);
      });
      return norms.flatMap((n, i) => {
        const others = norms.filter((_, j) => j !== i).sort((a, b) => a - b);
        const median = others[others.length >> 1]!;
        return n > 3 * median || 3 * n < median ? [i] : [];
      });
    },
  },

  agree(params, x, y) {
    const model = modelOf(params as unknown as TrainParams);
    const [a, b] = [decodeGradient(model, x), decodeGradient(model, y)];
    return !!a && !!b && gradientsAgree(a, b);
  },

  grid(plan) {
    const p = plan as unknown as Plan;
    return { rows: 1, cols: Math.ceil(p.batch / p.shardRows), layers: p.rounds };
  },

  roundDeadlineMs: (raw) => (raw as unknown as Plan).roundDeadlineSeconds * 1000,

  live(raw) {
    const plan = raw as unknown as Plan;
    // At most ~400 points: every k-th round, and the last.
    const k = Math.ceil(plan.curve.length / 400);
    const curve = plan.curve.filter((_, i) => i % k === 0 || i === plan.curve.length - 1);
    return { round: plan.round, rounds: plan.rounds, curve, testAccuracy: plan.testAccuracy ?? null, testRows: plan.test?.rows ?? 0 };
  },

  async advance(raw, round, blobs, accountId) {
    const plan = structuredClone(raw) as unknown as Plan;
    const model = planModel(plan.model.input, plan.model.layers, plan.model.classes);
    const sum = new Float64Array(model.size);
    let rows = 0, loss = 0, correct = 0;
    for (const u of round) {
      const g = decodeGradient(model, u.result)!;
      // A gradient is summed over its rows already; a local steps' change is one unit's, weighed by its rows.
      const weight = plan.local ? g.rows : 1;
      for (let i = 0; i < sum.length; i++) sum[i]! += weight * g.grads[i]!;
      rows += g.rows;
      loss += g.loss;
      correct += g.correct;
    }
    if (!rows) throw new Error('no shard of the round was verified');
    const mean = Float32Array.from(sum, (v) => v / rows);
    const [weights, state] = await blobs.readMany(plan.state ? [plan.weights, plan.state] : [plan.weights]);
    const rate = plan.schedule === 'cosine' ? (plan.optimizer.learningRate * (1 + Math.cos((Math.PI * plan.round) / plan.rounds))) / 2 : plan.optimizer.learningRate;
    const stepped = optimizerStep({ ...plan.optimizer, learningRate: rate }, f32(weights!), mean, state ? f32(state) : initialState(plan.optimizer, model.size), plan.round + 1);
    if (stepped.params.some((v) => !Number.isFinite(v))) throw new Error('the weights became infinite (the training diverged): lower the learning rate');
    plan.curve.push({ round: plan.round + 1, loss: loss / rows, accuracy: correct / rows, rows });
    plan.round += 1;
    plan.weights = (await blobs.put(bytesOf(stepped.params), accountId)).sha256;
    plan.state = (await blobs.put(bytesOf(stepped.state), accountId)).sha256;
    const out = plan as unknown as Record<string, unknown>;
    if (plan.round < plan.rounds) return { plan: out, units: roundUnits(plan, plan.round) };
    if (plan.test) {
      const [f, l] = await blobs.readMany([plan.test.features, plan.test.labels]);
      plan.testAccuracy = accuracy(model, stepped.params, dataset(f!, l!));
    }
    return { plan: out, result: resultZip(plan, model, stepped.params) };
  },
};

/** The result: the weights as .safetensors and as a .npy per tensor, the model and the curve. */
function resultZip(plan: Plan, model: ModelPlan, params: Float32Array) {
  const tensors = tensorsOf(model, params);
  const summary = { model: plan.model, rounds: plan.rounds, batch: plan.batch, optimizer: plan.optimizer, seed: plan.seed, testAccuracy: plan.testAccuracy ?? null, testRows: plan.test?.rows ?? 0, curve: plan.curve };
  const files: Record<string, Uint8Array> = {
    'model.safetensors': encodeSafetensors(tensors, { format: 'supernet-train', model: JSON.stringify(plan.model) }),
    'training.json': new TextEncoder().encode(JSON.stringify(summary, null, 1)),
  };
  for (const [name, t] of Object.entries(tensors)) {
    const [rows, ...rest] = t.shape;
    files[`${name}.npy`] = encodeNpy({ rows: rows!, cols: rest.reduce((a, b) => a * b, 1), data: t.data });
  }
  return { bytes: zipSync(files, { level: 6 }), contentType: 'application/zip', extension: 'zip' };
}

export type { Plan as TrainPlan };
