import type { ModelPlan } from './model.ts';

/**
 * The model on the CPU, in JavaScript: what the WGSL kernels are compared with, what a node
 * without WebGPU runs, and what the coordinator recomputes to check a sample of shards. Sums are
 * in doubles; values are stored as float32, as on the GPU.
 */

/** A shard's contribution: the gradient summed (not averaged) over its rows, and its loss and hits. */
export interface ShardGradient {
  grads: Float32Array;
  /** Softmax cross-entropy summed over the rows. */
  loss: number;
  /** Rows whose highest score is their label. */
  correct: number;
  rows: number;
}

/** Every layer's output for `rows` samples of `x` (row-major); [0] is `x` itself. */
export function forward(plan: ModelPlan, params: Float32Array, x: Float32Array, rows: number): Float32Array[] {
  const acts = [x];
  for (let l = 0; l < plan.layers.length; l++) acts.push(forwardLayer(plan, l, params, acts[l]!, rows));
  return acts;
}

/** Layer `l`'s output for `rows` samples of its input `a`. */
function forwardLayer(plan: ModelPlan, l: number, params: Float32Array, a: Float32Array, rows: number): Float32Array {
  const layer = plan.layers[l]!;
  const inShape = l === 0 ? plan.input : plan.shapes[l - 1]!;
  const outShape = plan.shapes[l]!;
  const inSize = inShape.reduce((p, q) => p * q, 1);
  const outSize = outShape.reduce((p, q) => p * q, 1);
  const y = new Float32Array(rows * outSize);
  const p = plan.params[l];
  if (layer.type === 'dense') {
    // Row by row, adding each input's row of weights (contiguous) into double sums, and
    // skipping inputs that are 0 (most of a digit's pixels, half of a ReLU's outputs): the
    // coordinator's check runs this, 3-4× faster than one sum per output on the digits.
    const sums = new Float64Array(outSize);
    for (let b = 0; b < rows; b++) {
      for (let o = 0; o < outSize; o++) sums[o] = params[p!.biases + o]!;
      for (let i = 0; i < inSize; i++) {
        const v = a[b * inSize + i]!;
        if (v === 0) continue;
        const row = p!.weights + i * outSize;
        for (let o = 0; o < outSize; o++) sums[o]! += v * params[row + o]!;
      }
      for (let o = 0; o < outSize; o++) y[b * outSize + o] = sums[o]!;
    }
  } else if (layer.type === 'relu') {
    for (let i = 0; i < y.length; i++) y[i] = Math.max(0, a[i]!);
  } else if (layer.type === 'conv2d') {
    const [c, h, w] = inShape as [number, number, number];
    const [f, oh, ow] = outShape as [number, number, number];
    const k = layer.kernel;
    for (let b = 0; b < rows; b++)
      for (let fi = 0; fi < f; fi++)
        for (let r = 0; r < oh; r++)
          for (let s = 0; s < ow; s++) {
            let sum = params[p!.biases + fi]!;
            for (let ci = 0; ci < c; ci++)
              for (let u = 0; u < k; u++)
                for (let v = 0; v < k; v++) sum += a[b * inSize + (ci * h + r + u) * w + s + v]! * params[p!.weights + ((fi * c + ci) * k + u) * k + v]!;
            y[b * outSize + (fi * oh + r) * ow + s] = sum;
          }
  } else {
    const [c, h, w] = inShape as [number, number, number];
    const [, oh, ow] = outShape as [number, number, number];
    const z = layer.size;
    for (let b = 0; b < rows; b++)
      for (let ci = 0; ci < c; ci++)
        for (let r = 0; r < oh; r++)
          for (let s = 0; s < ow; s++) {
            let most = -Infinity;
            for (let u = 0; u < z; u++) for (let v = 0; v < z; v++) most = Math.max(most, a[b * inSize + (ci * h + r * z + u) * w + s * z + v]!);
            y[b * outSize + (ci * oh + r) * ow + s] = most;
          }
  }
  return y;
}

/** The index of a row's highest score (the first, on a tie). */
export function argmax(scores: Float32Array, row: number, classes: number): number {
  let best = 0;
  for (let k = 1; k < classes; k++) if (scores[row * classes + k]! > scores[row * classes + best]!) best = k;
  return best;
}

/** The gradient of the summed softmax cross-entropy of `rows` samples with respect to every parameter. */
export function gradients(plan: ModelPlan, params: Float32Array, x: Float32Array, labels: ArrayLike<number>, rows: number): ShardGradient {
  const acts = forward(plan, params, x, rows);
  const { d, loss, correct } = lossOf(plan, acts[acts.length - 1]!, labels, rows);
  return { grads: backward(plan, params, acts, d, rows, plan.layers.length - 1), loss, correct, rows };
}

/** The summed softmax cross-entropy of `rows` rows of logits, their hits, and dLoss/dlogits (softmax − one-hot). */
function lossOf(plan: ModelPlan, logits: Float32Array, labels: ArrayLike<number>, rows: number) {
  const classes = plan.classes;
  const d = new Float32Array(rows * classes);
  let loss = 0;
  let correct = 0;
  for (let b = 0; b < rows; b++) {
    let most = -Infinity;
    for (let k = 0; k < classes; k++) most = Math.max(most, logits[b * classes + k]!);
    let sum = 0;
    for (let k = 0; k < classes; k++) sum += Math.exp(logits[b * classes + k]! - most);
    const label = labels[b]!;
    loss += Math.log(sum) - (logits[b * classes + label]! - most);
    if (argmax(logits, b, classes) === label) correct++;
    for (let k = 0; k < classes; k++) d[b * classes + k] = Math.exp(logits[b * classes + k]! - most) / sum - (k === label ? 1 : 0);
  }
  return { d, loss, correct };
}

/**
 * The parameters' gradient, given `d` = dLoss/d(output of layer `top`) for `rows` rows and every
 * layer's output `acts` (forward's). Layers above `top` get zeros. `seen` is told each ReLU's d.
 */
function backward(plan: ModelPlan, params: Float32Array, acts: Float32Array[], d: Float32Array, rows: number, top: number, seen?: (l: number, d: Float32Array) => void): Float32Array {
  const grads = new Float32Array(plan.size);
  for (let l = top; l >= 0; l--) {
    const layer = plan.layers[l]!;
    const a = acts[l]!;
    const inShape = l === 0 ? plan.input : plan.shapes[l - 1]!;
    const outShape = plan.shapes[l]!;
    const inSize = inShape.reduce((p, q) => p * q, 1);
    const outSize = outShape.reduce((p, q) => p * q, 1);
    const p = plan.params[l];
    const dx = new Float32Array(rows * inSize);
    if (layer.type === 'dense') {
      // dW[i, o] = Σ_b a[b, i]·d[b, o], row of dW by row, skipping zero inputs (as forward).
      const sums = new Float64Array(inSize * outSize);
      const bias = new Float64Array(outSize);
      for (let b = 0; b < rows; b++) {
        const dRow = b * outSize;
        for (let o = 0; o < outSize; o++) bias[o]! += d[dRow + o]!;
        for (let i = 0; i < inSize; i++) {
          const v = a[b * inSize + i]!;
          if (v === 0) continue;
          const row = i * outSize;
          for (let o = 0; o < outSize; o++) sums[row + o]! += v * d[dRow + o]!;
        }
      }
      grads.set(sums, p!.weights);
      grads.set(bias, p!.biases);
      // The first layer's input needs no gradient.
      if (l > 0) {
        for (let b = 0; b < rows; b++)
          for (let i = 0; i < inSize; i++) {
            let sum = 0;
            for (let o = 0; o < outSize; o++) sum += d[b * outSize + o]! * params[p!.weights + i * outSize + o]!;
            dx[b * inSize + i] = sum;
          }
      }
    } else if (layer.type === 'relu') {
      seen?.(l, d);
      const y = acts[l + 1]!;
      for (let i = 0; i < dx.length; i++) dx[i] = y[i]! > 0 ? d[i]! : 0;
    } else if (layer.type === 'conv2d') {
      const [c, h, w] = inShape as [number, number, number];
      const [f, oh, ow] = outShape as [number, number, number];
      const k = layer.kernel;
      for (let fi = 0; fi < f; fi++) {
        let bias = 0;
        for (let b = 0; b < rows; b++) for (let r = 0; r < oh; r++) for (let s = 0; s < ow; s++) bias += d[b * outSize + (fi * oh + r) * ow + s]!;
        grads[p!.biases + fi] = bias;
        for (let ci = 0; ci < c; ci++)
          for (let u = 0; u < k; u++)
            for (let v = 0; v < k; v++) {
              let sum = 0;
              for (let b = 0; b < rows; b++)
                for (let r = 0; r < oh; r++)
                  for (let s = 0; s < ow; s++) sum += d[b * outSize + (fi * oh + r) * ow + s]! * a[b * inSize + (ci * h + r + u) * w + s + v]!;
              grads[p!.weights + ((fi * c + ci) * k + u) * k + v] = sum;
            }
      }
      for (let b = 0; b < rows; b++)
        for (let ci = 0; ci < c; ci++)
          for (let y = 0; y < h; y++)
            for (let x = 0; x < w; x++) {
              let sum = 0;
              for (let fi = 0; fi < f; fi++)
                for (let u = 0; u < k; u++)
                  for (let v = 0; v < k; v++) {
                    const r = y - u, s = x - v;
                    if (r >= 0 && r < oh && s >= 0 && s < ow) sum += d[b * outSize + (fi * oh + r) * ow + s]! * params[p!.weights + ((fi * c + ci) * k + u) * k + v]!;
                  }
              dx[b * inSize + (ci * h + y) * w + x] = sum;
            }
    } else {
      // The gradient goes to the first largest input of each window; the ragged edge gets none.
      const [c, h, w] = inShape as [number, number, number];
      const [, oh, ow] = outShape as [number, number, number];
      const z = layer.size;
      for (let b = 0; b < rows; b++)
        for (let ci = 0; ci < c; ci++)
          for (let r = 0; r < oh; r++)
            for (let s = 0; s < ow; s++) {
              let best = -1, most = -Infinity;
              for (let u = 0; u < z; u++)
                for (let v = 0; v < z; v++) {
                  const at = b * inSize + (ci * h + r * z + u) * w + s * z + v;
                  if (a[at]! > most) (most = a[at]!), (best = at);
                }
              dx[best] = d[b * outSize + (ci * oh + r) * ow + s]!;
            }
    }
    d = dx;
  }
  return grads;
}

/**
 * How far rounding may move a pre-activation, as a share of the sum of its terms' sizes
 * (|bias| + Σ|input·weight|). A float32 sum of n terms is within n·2⁻²⁴ of that sum's size
 * whatever its order: 4.7e-5 for the 784 pixels of a digit, the largest fan-in of the examples.
 */
export const roundingReach = 1e-4;

/**
 * What a ReLU at its edge may do to the gradient on another machine. A pre-activation within
 * roundingReach of 0 may come out positive on the GPU and negative on the CPU (or the other way):
 * the forward pass barely moves (by that tiny value), but the backward pass lets that element's
 * gradient through on one machine and not on the other, and that row's whole contribution below
 * it changes — by 5.5e-3 of a shard's gradient's length, once in 1,880 honest shards of the
 * digits MLP. Yields, for each such element (those with the largest gradient first, at most
 * `most`), the change in the shard's gradient if it went the other way: that row's backward
 * pass from the ReLU down, with only that element's gradient flipped on or off.
 */
export function* reluFlips(plan: ModelPlan, params: Float32Array, x: Float32Array, labels: ArrayLike<number>, rows: number, most = 64): Generator<Float32Array> {
  const acts = forward(plan, params, x, rows);
  const below = new Map<number, Float32Array>();
  backward(plan, params, acts, lossOf(plan, acts[acts.length - 1]!, labels, rows).d, rows, plan.layers.length - 1, (l, d) => below.set(l, d));
  const sizes = params.map(Math.abs);
  const edges: { l: number; i: number; change: number }[] = [];
  for (const [l, d] of below) {
    const producer = plan.layers[l - 1];
    if (producer?.type !== 'dense' && producer?.type !== 'conv2d') continue;
    const z = acts[l]!;
    const reach = forwardLayer(plan, l - 1, sizes, acts[l - 1]!.map(Math.abs), rows);
    // On the CPU the element let its gradient through (z > 0): elsewhere it may not have.
    for (let i = 0; i < z.length; i++) if (d[i] !== 0 && Math.abs(z[i]!) <= roundingReach * reach[i]!) edges.push({ l, i, change: z[i]! > 0 ? -d[i]! : d[i]! });
  }
  edges.sort((a, b) => Math.abs(b.change) - Math.abs(a.change));
  for (const { l, i, change } of edges.slice(0, most)) {
    const width = acts[l]!.length / rows;
    const b = Math.floor(i / width);
    const row = acts.map((a) => a.subarray((b * a.length) / rows, ((b + 1) * a.length) / rows));
    const d = new Float32Array(width);
    d[i - b * width] = change;
    yield backward(plan, params, row, d, 1, l - 1);
  }
}
