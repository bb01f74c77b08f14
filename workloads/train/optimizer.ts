/**
 * The step the coordinator takes with a round's mean gradient. SGD with momentum (v ← μv + g,
 * w ← w − ηv) or Adam (β1 0.9, β2 0.999, ε 1e-8, bias-corrected). The state (v; or Adam's m
 * and v) travels between rounds as a blob, so any coordinator process can take the next step.
 */
export interface Optimizer {
  kind: 'sgd' | 'adam';
  learningRate: number;
  momentum: number;
}

const [beta1, beta2, epsilon] = [0.9, 0.999, 1e-8];

/** The state a run starts from: zeros, one vector (SGD) or two (Adam) the size of the parameters. */
export const initialState = (o: Optimizer, size: number) => new Float32Array(o.kind === 'adam' ? 2 * size : size);

/** Step `step` (1, 2, …): new parameters and state; neither input is changed. */
export function optimizerStep(o: Optimizer, params: Float32Array, grad: Float32Array, state: Float32Array, step: number): { params: Float32Array; state: Float32Array } {
  const n = params.length;
  const next = new Float32Array(n);
  const s = Float32Array.from(state);
  if (o.kind === 'sgd') {
    for (let i = 0; i < n; i++) {
      s[i] = o.momentum * s[i]! + grad[i]!;
      next[i] = params[i]! - o.learningRate * s[i]!;
    }
  } else {
    const c1 = 1 - beta1 ** step, c2 = 1 - beta2 ** step;
    for (let i = 0; i < n; i++) {
      const g = grad[i]!;
      s[i] = beta1 * s[i]! + (1 - beta1) * g;
      s[n + i] = beta2 * s[n + i]! + (1 - beta2) * g * g;
      next[i] = params[i]! - (o.learningRate * (s[i]! / c1)) / (Math.sqrt(s[n + i]! / c2) + epsilon);
    }
  }
  return { params: next, state: s };
}
