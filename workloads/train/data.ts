import { NpyError, readHeader } from '../../shaders/npy.ts';
import { mulberry32 } from '../../shaders/random.ts';
import type { Shape } from './model.ts';
import { ownBytes } from '../../shaders/bytes.ts';

/**
 * A labelled dataset as units read it: `rows` samples of `shape`, their features as float32 or
 * as bytes (pixels 0-255, read as value/255: MNIST's 10,000 digits are 7.8 MB so, 31 MB as
 * floats), and a class per row. Isomorphic: the coordinator checks uploads with it, nodes
 * gather their shard's rows with it.
 */
export interface Dataset {
  rows: number;
  shape: Shape;
  /** Features per row. */
  width: number;
  values: Float32Array | Uint8Array;
  labels: Int32Array;
  classes: number;
}

export class DataError extends Error {}

/** Reads a features `.npy`: float32 ('<f4') or bytes ('|u1', scaled by 1/255), of shape (rows, features), (rows, height, width) or (rows, channels, height, width). */
export function parseFeatures(bytes: Uint8Array): { rows: number; shape: Shape; values: Float32Array | Uint8Array } {
  const { descr, shape, dataStart } = header(bytes, 'features');
  if (descr !== '<f4' && descr !== '|u1') throw new DataError(`the features .npy is ${descr}; float32 ('<f4') or uint8 pixels ('|u1') is required: convert with a.astype(numpy.float32)`);
  if (shape.length < 2 || shape.length > 4 || shape.some((d) => d < 1)) throw new DataError(`the features .npy has shape (${shape.join(', ')}); give (rows, features), (rows, height, width) or (rows, channels, height, width)`);
  const [rows, ...rest] = shape as [number, ...number[]];
  const sample: Shape = rest.length === 1 ? [rest[0]!] : rest.length === 2 ? [1, rest[0]!, rest[1]!] : [rest[0]!, rest[1]!, rest[2]!];
  const count = shape.reduce((a, b) => a * b, 1);
  const size = descr === '<f4' ? 4 : 1;
  if (bytes.length - dataStart !== count * size) throw new DataError(`the features .npy holds ${bytes.length - dataStart} bytes where shape (${shape.join(', ')}) needs ${count * size}: the file is truncated or damaged`);
  const body = ownBytes(bytes.subarray(dataStart));
  const values = descr === '<f4' ? new Float32Array(body.buffer) : body;
  if (values instanceof Float32Array && values.some((v) => !Number.isFinite(v))) throw new DataError('the features .npy holds NaN or infinite values');
  return { rows, shape: sample, values };
}

const labelTypes: Record<string, number> = { '|u1': 1, '<i4': 4, '<u4': 4, '<i8': 8, '<f4': 4 };

/** Reads a labels `.npy`: one whole class number per row, 0 to classes − 1 (uint8, int32, uint32, int64 or whole float32). */
export function parseLabels(bytes: Uint8Array): Int32Array {
  const { descr, shape, dataStart } = header(bytes, 'labels');
  const size = labelTypes[descr];
  if (!size) throw new DataError(`the labels .npy is ${descr}; give whole class numbers as uint8, int32, uint32, int64 or float32`);
  if (shape.length !== 1 && !(shape.length === 2 && shape[1] === 1)) throw new DataError(`the labels .npy has shape (${shape.join(', ')}); give one class number per row, shape (rows,)`);
  const rows = shape[0]!;
  if (bytes.length - dataStart !== rows * size) throw new DataError(`the labels .npy holds ${bytes.length - dataStart} bytes where ${rows} labels need ${rows * size}: the file is truncated or damaged`);
  const view = new DataView(bytes.buffer, bytes.byteOffset + dataStart, rows * size);
  const out = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const v = descr === '|u1' ? view.getUint8(i) : descr === '<i4' ? view.getInt32(i * 4, true) : descr === '<u4' ? view.getUint32(i * 4, true) : descr === '<i8' ? Number(view.getBigInt64(i * 8, true)) : view.getFloat32(i * 4, true);
    if (!Number.isInteger(v) || v < 0 || v > 9999) throw new DataError(`label ${i} is ${v}: labels are whole class numbers from 0`);
    out[i] = v;
  }
  return out;
}

function header(bytes: Uint8Array, what: string) {
  try {
    return readHeader(bytes);
  } catch (err) {
    if (err instanceof NpyError) throw new DataError(`the ${what}: ${err.message}`);
    throw err;
  }
}

/** Features and labels as one dataset; says where they disagree. */
export function dataset(features: Uint8Array, labels: Uint8Array): Dataset {
  const f = parseFeatures(features);
  const l = parseLabels(labels);
  if (l.length !== f.rows) throw new DataError(`the features have ${f.rows} rows and the labels ${l.length}: give one label per row`);
  const classes = l.reduce((a, b) => Math.max(a, b), 0) + 1;
  if (classes < 2) throw new DataError('every label is 0: training needs at least two classes');
  return { rows: f.rows, shape: f.shape, width: f.shape.reduce((a, b) => a * b, 1), values: f.values, labels: l, classes };
}

/**
 * Random shifts of image rows (data augmentation): each row moves by up to `shift` pixels on
 * each axis, the uncovered edge zero, by an amount drawn from `seed` and the row's index, so
 * that the node and the coordinator's check make the same pixels. 8,000 digits are few: an MLP
 * trained on them without shifts learns the training rows (98%) and stops at 93% on held-out
 * ones; with shifts of 2 it gets past 95% (bench/train-notes.md).
 */
export interface Augment {
  shift: number;
  seed: number;
}

/** Rows `indices` of the dataset as float32 features (shifted, with `augment`) and their labels (as floats, how the loss kernel reads them). */
export function gather(data: Dataset, indices: ArrayLike<number>, augment?: Augment): { x: Float32Array; labels: Float32Array } {
  const { width, values } = data;
  const x = new Float32Array(indices.length * width);
  const labels = new Float32Array(indices.length);
  const scale = values instanceof Uint8Array ? 1 / 255 : 1;
  const shifting = augment && augment.shift > 0 && data.shape.length === 3;
  for (let r = 0; r < indices.length; r++) {
    const i = indices[r]!;
    if (!(i >= 0 && i < data.rows)) throw new DataError(`row ${i} is not in the dataset of ${data.rows} rows`);
    labels[r] = data.labels[i]!;
    const from = i * width;
    if (!shifting) {
      for (let j = 0; j < width; j++) x[r * width + j] = values[from + j]! * scale;
      continue;
    }
    const [c, h, w] = data.shape as [number, number, number];
    const next = mulberry32((augment.seed ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0);
    const span = 2 * augment.shift + 1;
    const dy = Math.floor(next() * span) - augment.shift, dx = Math.floor(next() * span) - augment.shift;
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++) {
        const sy = y - dy;
        if (sy < 0 || sy >= h) continue;
        for (let xx = 0; xx < w; xx++) {
          const sx = xx - dx;
          if (sx >= 0 && sx < w) x[r * width + (ch * h + y) * w + xx] = values[from + (ch * h + sy) * w + sx]! * scale;
        }
      }
  }
  return { x, labels };
}
