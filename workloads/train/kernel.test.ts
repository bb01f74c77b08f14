import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDawnDevice, type DawnDevice } from '../../server/agent/dawn.ts';
import { features, initialParams, planModel } from './model.ts';
import { forwardGpu, shardGradientGpu } from './gpu.ts';
import { forward, gradients } from './reference.ts';
import { localStepsAsync, shardGradient } from './unit.ts';
import { models, uniform } from './fixtures.ts';

let gpu: DawnDevice;
beforeAll(async () => {
  gpu = await openDawnDevice();
});
afterAll(() => gpu?.device.destroy());

describe('the training kernels on Dawn (SwiftShader)', () => {
  it.each(models)('$name: a shard\'s gradient, loss and hits match the CPU reference, over ragged micro-batches', async ({ input, layers, classes }) => {
    const plan = planModel(input, layers, classes);
    const params = initialParams(plan, 5);
    const rows = 11;
    const x = uniform(rows * features(plan.input), 9);
    const labels = Float32Array.from({ length: rows }, (_, i) => (i * 5 + 1) % classes);
    const want = gradients(plan, params, x, labels, rows);
    const stats = { dispatches: 0, maxDispatchMs: 0 };
    // 4 rows a micro-batch: 4 + 4 + 3, the gradient accumulating over the three on the GPU.
    const got = await shardGradientGpu(gpu.device, plan, params, x, labels, rows, { microRows: 4, stats });
    const scale = Math.max(1, ...want.grads.map(Math.abs));
    let worst = 0;
    for (let i = 0; i < plan.size; i++) worst = Math.max(worst, Math.abs(got.grads[i]! - want.grads[i]!));
    expect(worst / scale).toBeLessThan(1e-5);
    expect(Math.abs(got.loss - want.loss) / want.loss).toBeLessThan(1e-5);
    expect([got.correct, got.rows]).toEqual([want.correct, rows]);
    expect(stats.dispatches).toBeGreaterThan(3 * layers.length);
  });

  it.each(models)('$name: local steps (each step\'s gradient on the GPU, then SGD) give the reference\'s change of the weights', async ({ input, layers, classes }) => {
    const plan = planModel(input, layers, classes);
    const params = initialParams(plan, 8);
    const rows = 12;
    const width = features(plan.input);
    const x = uniform(rows * width, 10);
    const labels = Float32Array.from({ length: rows }, (_, i) => (i * 3 + 2) % classes);
    const p = { round: 0, model: { input, layers, classes }, indices: Array.from({ length: rows }, (_, i) => i), local: { steps: 3, learningRate: 0.5 } };
    const want = shardGradient(plan, p, params, x, labels);
    const got = await localStepsAsync(params, p, (s) => shardGradientGpu(gpu.device, plan, s.params, x.subarray(s.from * width, (s.from + s.rows) * width), labels.subarray(s.from, s.from + s.rows), s.rows));
    // The change is 3 steps' worth, and not the first step's gradient alone.
    const first = gradients(plan, params, x.subarray(0, 4 * width), labels.subarray(0, 4), 4);
    expect(Math.abs(want.grads[0]! - 0.5 * first.grads[0]! / 4)).toBeGreaterThan(1e-7);
    const scale = Math.max(1e-6, ...want.grads.map(Math.abs));
    let worst = 0;
    for (let i = 0; i < plan.size; i++) worst = Math.max(worst, Math.abs(got.grads[i]! - want.grads[i]!));
    expect(worst / scale).toBeLessThan(1e-5);
    expect([got.rows, got.correct]).toEqual([rows, want.correct]);
  });

  it.each(models)('$name: the forward pass alone (inference) gives the reference\'s scores for every row, over ragged micro-batches', async ({ input, layers, classes }) => {
    const plan = planModel(input, layers, classes);
    const params = initialParams(plan, 6);
    const rows = 11;
    const x = uniform(rows * features(plan.input), 4);
    const want = forward(plan, params, x, rows).at(-1)!;
    const got = await forwardGpu(gpu.device, plan, params, x, rows, { microRows: 4 });
    expect(got.length).toBe(rows * classes);
    const scale = Math.max(1, ...want.map(Math.abs));
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!) / scale).toBeLessThan(1e-5);
  });
});
