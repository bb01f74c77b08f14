import { gather, parseFeatures } from './data.ts';
import type { TrainParams } from './unit.ts';

/** An infer unit, as both halves read it (isomorphic: the browser worker imports it): rows [from, from + count) of the features. Inputs: [parameters (float32 vector), features .npy]. */
export interface InferParams {
  model: TrainParams['model'];
  from: number;
  count: number;
}

/** Rows `indices` of a features .npy, as float32 (no labels: inference has none to give). */
export function rowsAt(features: Uint8Array, indices: number[]): Float32Array {
  const f = parseFeatures(features);
  return gather({ rows: f.rows, shape: f.shape, width: f.shape.reduce((a, b) => a * b, 1), values: f.values, labels: new Int32Array(f.rows), classes: 0 }, indices).x;
}

/** Rows [from, from + count). */
export const rowsFrom = (features: Uint8Array, from: number, count: number) => rowsAt(features, Array.from({ length: count }, (_, i) => from + i));
