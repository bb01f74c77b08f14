import { unzipSync, zipSync } from 'fflate';
import { z } from 'zod';
import { badRequest } from '../../server/errors.ts';
import type { BlobStore } from '../../server/blobs/store.ts';
import { encodeNpy, encodeNpyRaw } from '../../shaders/npy.ts';
import type { Workload } from '../types.ts';
import { DataError, dataset, parseFeatures, type Dataset } from './data.ts';
import { mnist } from './mnist.ts';
import { layerSchema, ModelError, planModel, type ModelPlan } from './model.ts';
import { argmax, forward } from './reference.ts';
import { decodeSafetensors, SafetensorsError } from './safetensors.ts';
import { rowsAt, type InferParams } from './infer-unit.ts';
import { modelOf, type TrainParams } from './unit.ts';
import { floatsOf } from '../../shaders/bytes.ts';

/**
 * infer: a trained model's forward pass over a set of rows, cut into units of `rowsPerUnit`.
 * The weights are a `train` job's result (its zip, or the `model.safetensors` in it, which names
 * its model) or any float32 `.safetensors` with `model` given. Each unit's scores are checked in
 * one execution: the coordinator recomputes `checkRows` rows of it, drawn at random when the
 * result arrives, on the CPU and compares within 10⁻⁴ of the largest score; a node cannot know
 * which rows, so a result with a share q of its rows wrong passes with probability (1 − q)^8
 * (one wrong row in 500: 98%, its effect on the predictions 0.2% of the unit; a quarter wrong:
 * 10%). The result: predictions (int32) and scores (float32) as .npy, JSON for up to 1,000 rows,
 * and the accuracy where the rows have labels.
 */
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'the sha256 of an uploaded file (PUT /api/blobs)');
export const checkRows = 8;
const scoreTolerance = 1e-4;
const jsonRowsMax = 1000;

export const inferSpec = z
  .object({
    weights: sha256.describe("a train job's result (its zip) or a float32 .safetensors"),
    model: z.object({ input: z.array(z.number().int().min(1)).min(1).max(3), layers: z.array(layerSchema).min(1).max(32), classes: z.number().int().min(2) }).strict().optional().describe('for a .safetensors not written by train: the model it holds (tensors layers.{i}.weight and .bias)'),
    data: z.union([
      z.object({ dataset: z.literal('mnist').describe("the 2,000 held-out digits of the `mnist` package") }).strict(),
      z.object({ features: sha256, labels: sha256.optional() }).strict(),
    ]),
    rowsPerUnit: z.number().int().min(1).max(65_536).default(500),
  })
  .strict();
export type InferSpec = z.infer<typeof inferSpec>;

interface Plan {
  rows: number;
  classes: number;
  /** The rows' labels, where known (the accuracy in the result). */
  labels: number[] | null;
}

/** The model and its parameters in train's layout, from a train result zip or a .safetensors. */
function readWeights(bytes: Uint8Array, given: InferSpec['model']): { model: ModelPlan; params: Float32Array } {
  let safetensors = bytes;
  if (bytes[0] === 0x50 && bytes[1] === 0x4b) {
    let files: Record<string, Uint8Array>;
    try {
      files = unzipSync(bytes, { filter: (f) => f.name === 'model.safetensors' });
    } catch {
      throw badRequest('spec.weights: it is not a zip file that opens.', 'bad_weights');
    }
    if (!files['model.safetensors']) throw badRequest("spec.weights: the zip holds no model.safetensors: give a train job's result.", 'bad_weights');
    safetensors = files['model.safetensors'];
  }
  let tensors, metadata;
  try {
    ({ tensors, metadata } = decodeSafetensors(safetensors));
  } catch (err) {
    if (err instanceof SafetensorsError) throw badRequest(`spec.weights: ${err.message}.`, 'bad_weights');
    throw err;
  }
  const described = given ?? (metadata.model ? (JSON.parse(metadata.model) as InferSpec['model']) : undefined);
  if (!described) throw badRequest('spec.model: this .safetensors does not say its model: give model (input, layers, classes).', 'bad_model');
  let model: ModelPlan;
  try {
    model = planModel(described.input as ModelPlan['input'], described.layers, described.classes);
  } catch (err) {
    if (err instanceof ModelError) throw badRequest(`spec.model: ${err.message}.`, 'bad_model');
    throw err;
  }
  const params = new Float32Array(model.size);
  model.params.forEach((p, i) => {
    if (!p) return;
    for (const [part, at, size] of [['weight', p.weights, p.biases - p.weights], ['bias', p.biases, model.layers[i]!.type === 'dense' ? (model.layers[i] as { units: number }).units : (model.layers[i] as { filters: number }).filters]] as const) {
      const t = tensors[`layers.${i}.${part}`];
      if (!t || t.data.length !== size) throw badRequest(`spec.weights: tensor layers.${i}.${part} is ${t ? `${t.data.length} values` : 'missing'}; layer ${i + 1} (${model.layers[i]!.type}) needs ${size}.`, 'bad_weights');
      params.set(t.data, at);
    }
  });
  return { model, params };
}

async function rowsOf(spec: InferSpec, blobs: BlobStore, accountId: string): Promise<{ features: string; data: Dataset | null; rows: number; labels: number[] | null; width: number }> {
  if ('dataset' in spec.data) {
    const { test } = mnist();
    const d = dataset(test.features, test.labels);
    return { features: (await blobs.put(test.features, accountId)).sha256, data: d, rows: d.rows, labels: [...d.labels], width: d.width };
  }
  const { features, labels } = spec.data;
  for (const sha of labels ? [features, labels] : [features]) if (!(await blobs.has(sha))) throw badRequest(`spec.data: no blob ${sha.slice(0, 12)}… is stored: upload the .npy first (PUT /api/blobs).`, 'bad_data');
  try {
    if (labels) {
      const d = dataset(await blobs.read(features), await blobs.read(labels));
      return { features, data: d, rows: d.rows, labels: d.rows <= 100_000 ? [...d.labels] : null, width: d.width };
    }
    const f = parseFeatures(await blobs.read(features));
    return { features, data: null, rows: f.rows, labels: null, width: f.shape.reduce((a, b) => a * b, 1) };
  } catch (err) {
    if (err instanceof DataError) throw badRequest(`spec.data: ${err.message}.`, 'bad_data');
    throw err;
  }
}

const scoresOf = floatsOf;

export const infer: Workload<InferSpec> = {
  kind: 'infer',
  description: "A trained model's forward pass (a train job's weights, or a .safetensors) over a set of rows: predictions and scores as .npy (and JSON for small sets), the accuracy where the rows have labels; a random sample of each unit's rows recomputed.",
  specSchema: inferSpec,
  examples: [],

  async shard(spec, blobs, accountId) {
    if (!(await blobs.has(spec.weights))) throw badRequest(`spec.weights: no blob ${spec.weights.slice(0, 12)}… is stored: upload the weights first (PUT /api/blobs).`, 'bad_weights');
    const { model, params } = readWeights(await blobs.read(spec.weights), spec.model);
    const set = await rowsOf(spec, blobs, accountId);
    const width = model.input.reduce((a, b) => a * b, 1);
    const rowWidth = set.width;
    if (rowWidth !== width) throw badRequest(`spec.data: the rows have ${rowWidth} features and the model takes ${width}.`, 'bad_data');
    const paramsSha = (await blobs.put(new Uint8Array(params.buffer), accountId)).sha256;
    const units = [];
    const describedModel = { input: model.input, layers: model.layers, classes: model.classes };
    for (let from = 0; from < set.rows; from += spec.rowsPerUnit) {
      const count = Math.min(spec.rowsPerUnit, set.rows - from);
      const params: InferParams = { model: describedModel, from, count };
      units.push({ params: params as unknown as Record<string, unknown>, inputs: [paramsSha, set.features], flops: model.flopsForward * count });
    }
    const plan: Plan = { rows: set.rows, classes: model.classes, labels: set.labels };
    return { plan: plan as unknown as Record<string, unknown>, units, flops: model.flopsForward * set.rows };
  },

  malformed(raw, result) {
    const p = raw as unknown as InferParams;
    if (result.byteLength !== p.count * p.model.classes * 4) return `a unit's result is ${p.count} rows × ${p.model.classes} float32 scores; got ${result.byteLength} bytes`;
    if (scoresOf(result).some((v) => !Number.isFinite(v))) return 'the scores hold NaN or infinite values';
    return null;
  },

  /** Recomputes `checkRows` rows, drawn now, on the CPU. */
  check(raw, inputs, result) {
    const p = raw as unknown as InferParams;
    const model = modelOf(p as unknown as TrainParams);
    const scores = scoresOf(result);
    const params = floatsOf(inputs[0]!);
    const picks = Array.from({ length: Math.min(checkRows, p.count) }, () => Math.floor(Math.random() * p.count));
    const want = forward(model, params, rowsAt(inputs[1]!, picks.map((r) => p.from + r)), picks.length).at(-1)!;
    for (const [j, r] of picks.entries()) {
      const row = want.subarray(j * model.classes, (j + 1) * model.classes);
      const scale = Math.max(1e-6, ...row.map(Math.abs));
      for (let k = 0; k < model.classes; k++) if (!(Math.abs(scores[r * model.classes + k]! - row[k]!) <= scoreTolerance * scale)) return false;
    }
    return true;
  },

  agree(raw, x, y) {
    const [a, b] = [scoresOf(x), scoresOf(y)];
    if (a.length !== b.length) return false;
    const scale = Math.max(1e-6, ...a.map(Math.abs), ...b.map(Math.abs));
    return a.every((v, i) => Math.abs(v - b[i]!) <= scoreTolerance * scale);
  },

  assemble(raw, units) {
    const plan = raw as unknown as Plan;
    const scores = new Float32Array(plan.rows * plan.classes);
    for (const u of units) scores.set(scoresOf(u.result), (u.params as unknown as InferParams).from * plan.classes);
    const predictions = Int32Array.from({ length: plan.rows }, (_, r) => argmax(scores, r, plan.classes));
    const right = plan.labels ? predictions.filter((p, r) => p === plan.labels![r]).length : null;
    const summary = { rows: plan.rows, classes: plan.classes, accuracy: right === null ? null : right / plan.rows };
    const files: Record<string, Uint8Array> = {
      'predictions.npy': encodeNpyRaw('<i4', [plan.rows], new Uint8Array(predictions.buffer)),
      'scores.npy': encodeNpy({ rows: plan.rows, cols: plan.classes, data: scores }),
      'summary.json': new TextEncoder().encode(JSON.stringify(summary, null, 1)),
    };
    if (plan.rows <= jsonRowsMax) files['predictions.json'] = new TextEncoder().encode(JSON.stringify([...predictions]));
    return { bytes: zipSync(files, { level: 6 }), contentType: 'application/zip', extension: 'zip' };
  },
};
