import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unzipSync } from 'fflate';
import type { Coordinator } from '../../server/coordinator.ts';
import { TestClient } from '../../tests/helpers/client.ts';
import { eventually, testCoordinator } from '../../tests/helpers/coordinator.ts';
import { RawNode, type Lease } from '../../tests/helpers/raw-node.ts';
import { mulberry32 } from '../../shaders/random.ts';
import { dataset, gather } from './data.ts';
import type { ShardGradient } from './reference.ts';
import { encodeGradient, modelOf, shardGradient, type TrainParams } from './unit.ts';

const spec = {
  model: { layers: [{ type: 'dense', units: 16 }, { type: 'relu' }, { type: 'dense', units: 10 }] },
  data: { dataset: 'mnist' },
  batch: 96,
  shardRows: 24,
  rounds: 4,
  learningRate: 0.003,
  seed: 3,
};

type Poison = (honest: ShardGradient, stale: ShardGradient | null) => ShardGradient;

/** The poisons a patient attacker sends in place of a shard's gradient. */
const poisons: Record<string, Poison> = {
  scaled: (g) => ({ ...g, grads: g.grads.map((v) => v * 10) }),
  'sign-flipped': (g) => ({ ...g, grads: g.grads.map((v) => -v) }),
  // Last round's gradient for these rows: it kept the old weights and skips the new download.
  stale: (g, stale) => stale ?? { ...g, grads: g.grads.map((v) => v * 1.01) },
  // Noise of the same size, so a norm check alone would pass it.
  random: (g) => {
    const next = mulberry32(9);
    const scale = Math.sqrt(g.grads.reduce((s, v) => s + v * v, 0) / g.grads.length) * Math.sqrt(3);
    return { ...g, grads: g.grads.map(() => (next() * 2 - 1) * scale) };
  },
};

/** A blob's bytes; kept, as a node's cache keeps them (the digits are 6 MB). */
const cache = new Map<string, Promise<Uint8Array>>();
const bytesOf = (url: string, sha: string) => {
  if (!cache.has(sha)) cache.set(sha, fetch(`${url}/api/blobs/${sha}`).then(async (res) => new Uint8Array(await res.arrayBuffer())));
  return cache.get(sha)!;
};

/**
 * A node that computes shards with the CPU reference, poisoning them if told; works until
 * `done()`. A patient poisoner sends `honestFirst` honest results (to be trusted) before it
 * lies, and keeps the attempt ids of its lies in `lies`.
 */
async function work(node: RawNode, done: () => boolean, poison?: Poison, patient?: { honestFirst: number; lies: string[] }) {
  let lastWeights: Float32Array | null = null;
  let sent = 0;
  while (!done()) {
    node.send({ type: 'request', slots: 1 });
    const lease: Lease | null = await node.next('lease', 1000).catch(() => null);
    if (!lease) continue;
    const p = lease.unit.params as unknown as TrainParams;
    const [w, f, l] = await Promise.all(lease.unit.inputs.map((sha) => bytesOf(node.url, sha)));
    const weights = new Float32Array(w!.slice().buffer);
    const { x, labels } = gather(dataset(f!, l!), p.indices, p.augment);
    const model = modelOf(p);
    const honest = shardGradient(model, p, weights, x, labels);
    const stale = lastWeights && lastWeights.length === weights.length && lastWeights.some((v, i) => v !== weights[i]) ? shardGradient(model, p, lastWeights, x, labels) : null;
    lastWeights = weights;
    const lie = !!poison && sent++ >= (patient?.honestFirst ?? 0);
    if (lie) patient?.lies.push(lease.attemptId);
    await node.submit(lease, encodeGradient(lie ? poison(honest, stale) : honest));
  }
}

describe('train against poisoning nodes', () => {
  let coordinator: Coordinator;
  beforeAll(async () => {
    coordinator = await testCoordinator('pglite');
  });
  afterAll(async () => {
    await coordinator?.close();
  });

  /** Runs the job with these nodes working; its weights, the poisoners' earnings, the invalid results. */
  async function train(dev: TestClient, honest: number, poisoners: string[]) {
    const { id } = await dev.json('POST', '/api/jobs', { kind: 'train', spec }, 201);
    let over = false;
    const clients = await Promise.all([...Array.from({ length: honest }, (_, i) => `honest-${i}`), ...poisoners].map(async (name) => {
      const client = await TestClient.signup(coordinator.url, `${name}-${id}@example.com`);
      const node = await RawNode.connect(coordinator.url, await client.useNewKey(name));
      const { nodeId } = await node.hello({ kinds: ['train'], gflops: 5 });
      return { name, client, node, nodeId };
    }));
    // The poisoners start first, so that each has sent a poisoned result before honest nodes
    // take the rounds (with them all at once, fast honest nodes could leave a poisoner nothing).
    const poisoning = clients.filter((c) => c.name in poisons);
    const working = poisoning.map(({ name, node }) => work(node, () => over, poisons[name]));
    const invalid = async (nodeId: string) => (await coordinator.deps.db.selectFrom('attempts').select('id').where('node_id', '=', nodeId).where('state', '=', 'invalid').executeTakeFirst()) ?? null;
    for (const { name, nodeId } of poisoning) await eventually(() => invalid(nodeId), `a refused result from the ${name} node`, 60_000, 50);
    working.push(...clients.filter((c) => !(c.name in poisons)).map(({ node }) => work(node, () => over)));
    const job = await dev.waitForJob(id, 240_000);
    over = true;
    await Promise.all(working);
    clients.forEach(({ node }) => node.close());
    expect(job.state, job.error).toBe('done');
    const files = unzipSync(new Uint8Array(await (await dev.call('GET', `/api/jobs/${id}/result`)).arrayBuffer()));
    const earned = Object.fromEntries(await Promise.all(clients.filter((c) => c.name in poisons).map(async ({ name, client }) => [name, (await client.json('GET', '/api/me')).wallet.earned])));
    const { verification } = await dev.json('GET', `/api/jobs/${id}/units`);
    // What each poisoner's results were judged: each sent some, and none passed.
    const judged: Record<string, { valid: number; invalid: number }> = {};
    for (const { name, nodeId } of clients.filter((c) => c.name in poisons)) {
      const rows = await coordinator.deps.db.selectFrom('attempts').select(['state']).where('node_id', '=', nodeId).where('state', 'in', ['valid', 'invalid']).execute();
      judged[name] = { valid: rows.filter((r) => r.state === 'valid').length, invalid: rows.filter((r) => r.state === 'invalid').length };
    }
    return { judged, weights: files['model.safetensors']!, curve: JSON.parse(new TextDecoder().decode(files['training.json']!)).curve, earned, verification };
  }

  it('catches scaled, sign-flipped, stale and random gradients: none is paid, none moves the weights', async () => {
    const dev = await TestClient.signup(coordinator.url, 'train-poison@example.com');
    await dev.useNewKey('ci');
    const clean = await train(dev, 2, []);
    const attacked = await train(dev, 2, Object.keys(poisons));
    // Every poisoned result was refused, and the weights are the clean run's, bit for bit.
    for (const [name, j] of Object.entries(attacked.judged)) expect([name, j.valid, j.invalid > 0]).toEqual([name, 0, true]);
    expect(attacked.verification.invalid).toBeGreaterThanOrEqual(4);
    expect(attacked.earned).toEqual({ scaled: 0, 'sign-flipped': 0, stale: 0, random: 0 });
    expect(attacked.curve).toEqual(clean.curve);
    expect(attacked.weights).toEqual(clean.weights);
  });

  it('with local steps (communication-efficient rounds) too: a node sending a wrong change of the weights is caught and unpaid, and the weights are the clean run\'s', async () => {
    const dev = await TestClient.signup(coordinator.url, 'train-local@example.com');
    await dev.useNewKey('ci');
    const local = { ...spec, localSteps: 4, localLearningRate: 0.1, optimizer: 'sgd', learningRate: 0.7, momentum: 0.9, rounds: 3 };
    const run = async (poisoners: string[]) => {
      const { id } = await dev.json('POST', '/api/jobs', { kind: 'train', spec: local }, 201);
      let over = false;
      const nodes = await Promise.all(['honest-0', 'honest-1', ...poisoners].map(async (name) => {
        const client = await TestClient.signup(coordinator.url, `local-${name}-${id}@example.com`);
        const node = await RawNode.connect(coordinator.url, await client.useNewKey(name));
        return { name, client, node, nodeId: (await node.hello({ kinds: ['train'], gflops: 5 })).nodeId };
      }));
      // The poisoner starts first, so that it sends a wrong change before the honest nodes take every unit.
      const working = nodes.filter((n) => n.name in poisons).map((n) => work(n.node, () => over, poisons[n.name]));
      for (const n of nodes.filter((n) => n.name in poisons)) {
        await eventually(async () => (await coordinator.deps.db.selectFrom('attempts').select('id').where('node_id', '=', n.nodeId).where('state', '=', 'invalid').executeTakeFirst()) ?? null, 'the poisoner caught', 60_000, 50);
      }
      working.push(...nodes.filter((n) => !(n.name in poisons)).map((n) => work(n.node, () => over)));
      const job = await dev.waitForJob(id, 120_000);
      over = true;
      await Promise.all(working);
      nodes.forEach(({ node }) => node.close());
      expect(job.state, job.error).toBe('done');
      const files = unzipSync(new Uint8Array(await (await dev.call('GET', `/api/jobs/${id}/result`)).arrayBuffer()));
      const earned = await Promise.all(nodes.filter((n) => n.name in poisons).map(async (n) => (await n.client.json('GET', '/api/me')).wallet.earned));
      return { weights: files['model.safetensors']!, curve: JSON.parse(new TextDecoder().decode(files['training.json']!)).curve, earned };
    };
    const clean = await run([]);
    const attacked = await run(['sign-flipped']);
    // A round is 4 × 96 rows; each unit took 4 steps of 24 rows.
    expect(clean.curve.map((p: { rows: number }) => p.rows)).toEqual([384, 384, 384]);
    expect(attacked.earned).toEqual([0]);
    expect(attacked.curve).toEqual(clean.curve);
    expect(attacked.weights).toEqual(clean.weights);
  });

  it('catches patient poisoners that lie only once trusted (their results then sampled): their lies are withdrawn and unpaid, the accuracy is the clean run\'s', async () => {
    const dev = await TestClient.signup(coordinator.url, 'train-patient@example.com');
    await dev.useNewKey('ci');
    // Shards of 8 rows, 12 to a round: enough units for each poisoner to earn its trust (12
    // results, all checked while it is untrusted) and then lie many times.
    const long = { ...spec, batch: 96, shardRows: 8, rounds: 24 };
    const run = async (poisoners: string[]) => {
      const { id } = await dev.json('POST', '/api/jobs', { kind: 'train', spec: long }, 201);
      let over = false;
      const nodes = await Promise.all(['honest-0', 'honest-1', ...poisoners].map(async (name) => {
        const client = await TestClient.signup(coordinator.url, `patient-${name}-${id}@example.com`);
        const node = await RawNode.connect(coordinator.url, await client.useNewKey(name));
        return { name, node, nodeId: (await node.hello({ kinds: ['train'], gflops: 5 })).nodeId, lies: [] as string[] };
      }));
      const working = nodes.map((n) => work(n.node, () => over, poisons[n.name], { honestFirst: 12, lies: n.lies }));
      const job = await dev.waitForJob(id, 240_000);
      over = true;
      await Promise.all(working);
      nodes.forEach(({ node }) => node.close());
      expect(job.state, job.error).toBe('done');
      const summary = JSON.parse(new TextDecoder().decode(unzipSync(new Uint8Array(await (await dev.call('GET', `/api/jobs/${id}/result`)).arrayBuffer()))['training.json']!));
      // Trusted nodes' results were sampled: some honest ones went unchecked.
      const unchecked = await coordinator.deps.db.selectFrom('attempts').select('id').where('node_id', 'in', nodes.filter((n) => !(n.name in poisons)).map((n) => n.nodeId)).where('state', '=', 'valid').where('lone', '=', true).execute();
      expect(unchecked.length).toBeGreaterThan(0);
      return { nodes: nodes.filter((n) => n.name in poisons), testAccuracy: summary.testAccuracy as number };
    };
    const clean = await run([]);
    const attacked = await run(['scaled', 'sign-flipped', 'random', 'stale']);
    const db = coordinator.deps.db;
    for (const { name, nodeId, lies } of attacked.nodes) {
      // It lied, was caught (its streak had made it trusted: some lies went unchecked at first),
      // and every lie ended invalid, with no pay posted for any.
      expect([name, lies.length > 0]).toEqual([name, true]);
      const states = await db.selectFrom('attempts').select(['state']).where('id', 'in', lies).execute();
      expect([name, states.filter((a) => a.state === 'valid').length]).toEqual([name, 0]);
      const caught = await db.selectFrom('attempts').select('id').where('node_id', '=', nodeId).where('state', '=', 'invalid').where('error', 'not like', 'withdrawn%').execute();
      expect([name, caught.length > 0]).toEqual([name, true]);
      const posted = await db.selectFrom('transfers').select('id').where('kind', '=', 'post').where('pending_id', 'in', lies.map((a) => `pay:${a}`)).execute();
      expect([name, posted.length]).toEqual([name, 0]);
    }
    // A lie that went unchecked in an earlier round than its node's catch moved that round's
    // weights a little (server/verify/sampled.ts bounds how many): the model is as good. How
    // many got through depends on the machine's timing (which rounds were decided before the
    // catch), so the bound is one-sided and loose: each such lie is one shard of 12 in its
    // round, and its node expects about one through (checked at ≥ 45% at a streak of 12).
    console.log(`test accuracy: clean ${clean.testAccuracy}, attacked ${attacked.testAccuracy}; lies sent ${attacked.nodes.map((n) => n.lies.length).join(', ')}`);
    expect(clean.testAccuracy - attacked.testAccuracy).toBeLessThanOrEqual(0.05);
  }, 300_000);

  it('goes on without a straggler past the round deadline: its shards are dropped and the mean is over the rows that came', async () => {
    const dev = await TestClient.signup(coordinator.url, 'train-straggler@example.com');
    await dev.useNewKey('ci');
    const { id } = await dev.json('POST', '/api/jobs', { kind: 'train', spec: { ...spec, rounds: 3, roundDeadlineSeconds: 2 } }, 201);
    const join = async (name: string) => {
      const client = await TestClient.signup(coordinator.url, `${name}@example.com`);
      const node = await RawNode.connect(coordinator.url, await client.useNewKey(name));
      return { node, nodeId: (await node.hello({ kinds: ['train'], gflops: 5 })).nodeId };
    };
    // The straggler takes a shard of the first round and sits on it (its lease would last 30 s).
    const straggler = await join('straggler');
    straggler.node.send({ type: 'request', slots: 1 });
    const held = await straggler.node.next('lease');
    const honest = await join('prompt');
    let over = false;
    const working = work(honest.node, () => over);
    const job = await dev.waitForJob(id, 120_000);
    over = true;
    await working;
    expect(job.state, job.error).toBe('done');
    const cancel = await straggler.node.next('cancel');
    expect(cancel).toMatchObject({ attemptId: held.attemptId, reason: 'the round went on without it' });
    const attempt = await coordinator.deps.db.selectFrom('attempts').select(['state', 'error']).where('id', '=', held.attemptId).executeTakeFirstOrThrow();
    expect(attempt).toEqual({ state: 'cancelled', error: 'the round went on without it (past its deadline)' });
    const summary = JSON.parse(new TextDecoder().decode(unzipSync(new Uint8Array(await (await dev.call('GET', `/api/jobs/${id}/result`)).arrayBuffer()))['training.json']!));
    // Round 1 lost the straggler's shard (and any other still out at the deadline: at least half
    // came); the job counts only the units it kept.
    const rows: number[] = summary.curve.map((p: { rows: number }) => p.rows);
    expect(rows[0]).toBeLessThanOrEqual(72);
    for (const r of rows) expect([r >= 48, r % 24]).toEqual([true, 0]);
    expect(job.progress).toMatchObject({ units: rows.reduce((a, b) => a + b, 0) / 24, verified: rows.reduce((a, b) => a + b, 0) / 24 });
    // The FLOPs the market counts for the job (server/market/price.ts) are those of the units it
    // kept, over its three rounds: the dropped shard's came off with it.
    const db = coordinator.deps.db;
    const kept = await db.selectFrom('units').select((eb) => eb.fn.sum<number>('flops').as('f')).where('job_id', '=', id).where('state', '!=', 'cancelled').executeTakeFirstOrThrow();
    const counted = await db.selectFrom('jobs').select('units_flops').where('id', '=', id).executeTakeFirstOrThrow();
    expect(counted.units_flops).toBeCloseTo(Number(kept.f), 0);
    expect(await db.selectFrom('units').select('id').where('job_id', '=', id).where('state', '=', 'cancelled').execute()).not.toHaveLength(0);
    straggler.node.close();
    honest.node.close();
  });
});
