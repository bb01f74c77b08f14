import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { TestClient } from '../../tests/helpers/client.ts';
import { testCoordinator } from '../../tests/helpers/coordinator.ts';
import { encodeNpyRaw } from '../../shaders/npy.ts';
import { train } from './coordinator.ts';
import { initialParams, planModel } from './model.ts';
import { encodeGradient } from './unit.ts';

const mlp = { layers: [{ type: 'dense', units: 8 }, { type: 'relu' }, { type: 'dense', units: 3 }] };
const digits = { layers: [{ type: 'dense', units: 8 }, { type: 'relu' }, { type: 'dense', units: 10 }] };
const f32 = (values: number[]) => new Uint8Array(new Float32Array(values).buffer);

describe('train on the coordinator', () => {
  let coordinator: Coordinator;
  let dev: TestClient;
  beforeAll(async () => {
    coordinator = await testCoordinator('pglite');
    dev = await TestClient.signup(coordinator.url, 'train-specs@example.com');
    await dev.useNewKey('ci');
  });
  afterAll(async () => {
    await coordinator?.close();
  });

  it('refuses a spec it cannot train with a message that says the fix, and makes no job', async () => {
    const features = await dev.upload(encodeNpyRaw('<f4', [6, 4], f32(Array.from({ length: 24 }, (_, i) => i / 24))));
    const labels = await dev.upload(encodeNpyRaw('|u1', [6], Uint8Array.from([0, 1, 2, 0, 1, 2])));
    const fewLabels = await dev.upload(encodeNpyRaw('|u1', [5], Uint8Array.from([0, 1, 2, 0, 1])));
    const notNpy = await dev.upload(new TextEncoder().encode('x,y\n1,2\n'));
    const cases: [unknown, RegExp][] = [
      [{ model: digits, data: { dataset: 'mnist' } }, /give epochs \(passes over the training rows\) or rounds/],
      [{ model: { layers: [{ type: 'dense', units: 12 }] }, data: { dataset: 'mnist' }, epochs: 1 }, /the last layer gives \[12\] and the data has 10 classes: end with a dense layer of 10 units/],
      [{ model: { layers: [{ type: 'conv2d', filters: 4, kernel: 3 }, { type: 'dense', units: 3 }] }, data: { features, labels }, epochs: 1 }, /layer 1 \(conv2d\) needs samples of shape \[channels, height, width\]/],
      [{ model: mlp, data: { features, labels: fewLabels }, epochs: 1 }, /the features have 6 rows and the labels 5: give one label per row/],
      [{ model: mlp, data: { features: notNpy, labels }, epochs: 1 }, /the features: not a \.npy file/],
      [{ model: mlp, data: { features, labels: 'f'.repeat(64) }, epochs: 1 }, /no blob ffffffffffff… is stored for the labels: upload the \.npy first/],
      [{ model: digits, data: { dataset: 'mnist' }, rounds: 10, batch: 0 }, /batch/],
      [{ model: digits, data: { dataset: 'mnist' }, epochs: 1000, batch: 1 }, /that is 8000000 rounds; at most 10,000/],
    ];
    const before = (await dev.json('GET', '/api/jobs')).jobs.length;
    for (const [spec, message] of cases) {
      const res = await dev.call('POST', '/api/jobs', { kind: 'train', spec });
      const body = await res.json();
      expect([res.status, body.error.message]).toEqual([400, expect.stringMatching(message)]);
    }
    expect((await dev.json('GET', '/api/jobs')).jobs.length).toBe(before);
  });

  it('finds a result malformed when it is not one shard\'s gradient', () => {
    const plan = planModel([4], mlp.layers as never, 3);
    const params = { round: 0, model: { input: [4], layers: mlp.layers, classes: 3 }, indices: [0, 1, 2] };
    const good = encodeGradient({ grads: initialParams(plan, 1), loss: 3, correct: 1, rows: 3 });
    expect(train.malformed(params, good)).toBeNull();
    expect(train.malformed(params, good.subarray(4))).toMatch(/a shard's result is 70 float32 values \(the gradient, the loss, the hits, the rows\); got 276 bytes/);
    expect(train.malformed(params, encodeGradient({ grads: initialParams(plan, 1), loss: 3, correct: 1, rows: 2 }))).toBe('the result says 2 rows; the shard has 3');
    expect(train.malformed(params, encodeGradient({ grads: initialParams(plan, 1).map((v, i) => (i === 5 ? NaN : v)), loss: 3, correct: 1, rows: 3 }))).toBe('the gradient holds NaN or infinite values');
  });
});

describe("train's screen of a round", () => {
  it('names a gradient scaled past 3× its peers (or shrunk under ⅓), and no honest shard', async () => {
    const { mnist } = await import('./mnist.ts');
    const { dataset, gather } = await import('./data.ts');
    const { gradients } = await import('./reference.ts');
    const { train: t } = mnist();
    const data = dataset(t.features, t.labels);
    const model = planModel([1, 28, 28], digits.layers as never, 10);
    const weights = initialParams(model, 1);
    const params = { round: 0, model: { input: [1, 28, 28], layers: digits.layers, classes: 10 }, indices: [] as number[] };
    const shard = (k: number, scale = 1) => {
      const indices = Array.from({ length: 16 }, (_, i) => k * 16 + i);
      const { x, labels } = gather(data, indices);
      const g = gradients(model, weights, x, labels, 16);
      return { params: { ...params, indices }, result: encodeGradient({ ...g, grads: g.grads.map((v) => v * scale) }) };
    };
    const screen = (round: { params: unknown; result: Uint8Array }[]) => train.sampled!.screen({}, round as never);
    expect(screen([0, 1, 2, 3, 4, 5].map((k) => shard(k)))).toEqual([]);
    expect(screen([shard(0), shard(1, 10), shard(2), shard(3)])).toEqual([1]);
    expect(screen([shard(0), shard(1), shard(2, 0.1), shard(3)])).toEqual([2]);
    // Two shards: each is measured against the other.
    expect(screen([shard(0), shard(1, 10)])).toEqual([0, 1]);
    expect(screen([shard(0)])).toEqual([]);
  });
});

describe("train's agreement of two results", () => {
  it('takes a max-pool near-tie routed the other way (a few values off), and refuses a gradient scaled by 1%, sign-flipped or stale', async () => {
    const { gradientsAgree } = await import('./unit.ts');
    const { gradients } = await import('./reference.ts');
    const { uniform } = await import('./fixtures.ts');
    const model = planModel([1, 8, 8], [{ type: 'conv2d', filters: 4, kernel: 3 }, { type: 'relu' }, { type: 'maxpool', size: 2 }, { type: 'dense', units: 3 }], 3);
    const params = initialParams(model, 2);
    const x = uniform(16 * 64, 5).map(Math.abs);
    const labels = Array.from({ length: 16 }, (_, i) => i % 3);
    const honest = gradients(model, params, x, labels, 16);
    const largest = Math.max(...honest.grads.map(Math.abs));
    // What a flipped pool window does: two conv weights' gradients move by 6e-4 of the largest.
    const flipped = { ...honest, grads: honest.grads.map((v, i) => (i === 3 ? v + 6e-4 * largest : i === 7 ? v - 6e-4 * largest : v)) };
    expect(gradientsAgree(flipped, honest)).toBe(true);
    expect(gradientsAgree({ ...honest, grads: honest.grads.map((v) => v * 1.01) }, honest)).toBe(false);
    expect(gradientsAgree({ ...honest, grads: honest.grads.map((v) => -v) }, honest)).toBe(false);
    const moved = Float32Array.from(params, (v, i) => v - 0.01 * honest.grads[i]!);
    expect(gradientsAgree(gradients(model, moved, x, labels, 16), honest)).toBe(false);
    expect(gradientsAgree({ ...honest, loss: honest.loss * 1.001 }, honest)).toBe(false);
  });

  it('takes a ReLU at its edge that went the other way (its row\'s gradient through it, on or off), and refuses a lie as far off', async () => {
    const { gradientsAgree, shardGradient, shardMatches } = await import('./unit.ts');
    const { forward } = await import('./reference.ts');
    const { uniform } = await import('./fixtures.ts');
    const layers = [{ type: 'dense', units: 8 }, { type: 'relu' }, { type: 'dense', units: 12 }, { type: 'relu' }, { type: 'dense', units: 4 }] as const;
    const model = planModel([16], [...layers], 4);
    const base = initialParams(model, 3);
    const x = uniform(16 * 16, 7);
    const labels = Float32Array.from({ length: 16 }, (_, i) => i % 4);
    const z = forward(model, base, x, 16)[1]!;
    const bias = model.params[0]!.biases;
    const relative = (a: Float32Array, b: Float32Array) => Math.hypot(...a.map((v, i) => v - b[i]!)) / Math.hypot(...b);
    for (const local of [undefined, { steps: 2, learningRate: 0.1 }]) {
      const p = { round: 0, model: { input: [16] as [number], layers: [...layers], classes: 4 }, indices: Array.from({ length: 16 }, (_, i) => i), ...(local ? { local } : {}) };
      // The row and unit whose flip moves the gradient most (rows of the first local step only):
      // the unit's bias set so that this row's pre-activation is +1e-6 on this machine, and -1e-6
      // on the other — within any float32 rounding of a sum of 16 terms of size ~0.5.
      let widest = { apart: 0, mine: base, theirs: base };
      for (let b = 0; b < (local ? 8 : 16); b++)
        for (let j = 0; j < 8; j++) {
          const mine = Float32Array.from(base);
          mine[bias + j] = base[bias + j]! - z[b * 8 + j]! + 1e-6;
          const theirs = Float32Array.from(mine);
          theirs[bias + j] = mine[bias + j]! - 2e-6;
          const apart = relative(shardGradient(model, p, theirs, x, labels).grads, shardGradient(model, p, mine, x, labels).grads);
          if (apart > widest.apart) widest = { apart, mine, theirs };
        }
      const want = shardGradient(model, p, widest.mine, x, labels);
      const other = shardGradient(model, p, widest.theirs, x, labels);
      expect(gradientsAgree(other, want)).toBe(false); // the flip is more than rounding
      expect(shardMatches(model, p, widest.mine, x, labels, other)).toBe(true);
      // A lie as far from the CPU's result, in another direction, or the flip and 1% more.
      const noise = uniform(model.size, 11);
      const scale = (widest.apart * Math.hypot(...want.grads)) / Math.hypot(...noise);
      expect(shardMatches(model, p, widest.mine, x, labels, { ...want, grads: want.grads.map((v, i) => v + scale * noise[i]!) })).toBe(false);
      expect(shardMatches(model, p, widest.mine, x, labels, { ...other, grads: other.grads.map((v) => v * 1.01) })).toBe(false);
    }
  });
});

describe("train's check on a worker thread", () => {
  it('runs off the event loop (the loop turns while it runs) and gives the same verdicts', async () => {
    const { CheckPool } = await import('../../server/verify/check-pool.ts');
    const { gradients } = await import('./reference.ts');
    const { uniform } = await import('./fixtures.ts');
    const layers = [{ type: 'conv2d', filters: 4, kernel: 3 }, { type: 'relu' }, { type: 'maxpool', size: 2 }, { type: 'dense', units: 3 }] as const;
    const model = planModel([1, 8, 8], [...layers], 3);
    const params = initialParams(model, 2);
    const x = uniform(16 * 64, 5).map(Math.abs);
    const labels = Float32Array.from({ length: 16 }, (_, i) => i % 3);
    const inputs = [
      { sha: 'a'.repeat(64), bytes: new Uint8Array(params.buffer.slice(0)) },
      { sha: 'b'.repeat(64), bytes: encodeNpyRaw('<f4', [16, 64], new Uint8Array(x.buffer)) },
      { sha: 'c'.repeat(64), bytes: encodeNpyRaw('<f4', [16], new Uint8Array(labels.buffer)) },
    ];
    const unit = { round: 0, model: { input: [1, 8, 8], layers: [...layers], classes: 3 }, indices: Array.from({ length: 16 }, (_, i) => i) };
    const honest = gradients(model, params, x, labels, 16);
    const pool = new CheckPool();
    try {
      const order: string[] = [];
      const verdict = pool.check(train, unit, inputs, encodeGradient(honest)).then((ok) => (order.push('checked'), ok));
      setImmediate(() => order.push('the loop turned'));
      expect(await verdict).toBe(true);
      // Inline, the check would be over before the loop could turn.
      expect(order).toEqual(['the loop turned', 'checked']);
      expect(await pool.check(train, unit, inputs, encodeGradient({ ...honest, grads: honest.grads.map((v) => v * 1.01) }))).toBe(false);
      expect(await pool.check(train, unit, inputs, encodeGradient({ ...honest, grads: honest.grads.map((v) => -v) }))).toBe(false);
    } finally {
      await pool.close();
    }
  });
});
