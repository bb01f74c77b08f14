import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../shaders/random.ts';
import { models, uniform } from './fixtures.ts';
import { initialParams, ModelError, planModel } from './model.ts';
import { gradients } from './reference.ts';

describe('the CPU reference of training', () => {
  it.each(models)('$name: its gradient is the loss\'s slope (central differences)', ({ input, layers, classes }) => {
    const plan = planModel(input, layers, classes);
    const params = initialParams(plan, 7);
    const rows = 5;
    const x = uniform(rows * plan.input.reduce((a, b) => a * b, 1), 11);
    const labels = Array.from({ length: rows }, (_, i) => (i * 7) % classes);
    const { grads } = gradients(plan, params, x, labels, rows);
    const next = mulberry32(3);
    const loss = (p: Float32Array) => gradients(plan, p, x, labels, rows).loss;
    for (let t = 0; t < 25; t++) {
      const j = Math.floor(next() * plan.size);
      const eps = 1e-3;
      const up = Float32Array.from(params), down = Float32Array.from(params);
      up[j]! += eps;
      down[j]! -= eps;
      const slope = (loss(up) - loss(down)) / (2 * eps);
      expect(Math.abs(slope - grads[j]!), `parameter ${j}: slope ${slope}, gradient ${grads[j]}`).toBeLessThan(2e-2 * Math.max(1, Math.abs(slope)));
    }
  });

  it('a model that does not fit its data says which layer and what to do', () => {
    expect(() => planModel([784], [{ type: 'conv2d', filters: 4, kernel: 3 }, { type: 'dense', units: 10 }], 10)).toThrow(/layer 1 \(conv2d\) needs samples of shape \[channels, height, width\]/);
    expect(() => planModel([1, 28, 28], [{ type: 'dense', units: 12 }], 10)).toThrow(ModelError);
    expect(() => planModel([1, 28, 28], [{ type: 'dense', units: 12 }], 10)).toThrow(/end with a dense layer of 10 units/);
    expect(() => planModel([1, 4, 4], [{ type: 'conv2d', filters: 1, kernel: 5 }, { type: 'dense', units: 2 }], 2)).toThrow(/5×5 kernel does not fit a 4×4 input/);
  });
});
