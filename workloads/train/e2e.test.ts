import { unzipSync, zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { TestClient } from '../../tests/helpers/client.ts';
import { eventually, spawnCli, stopChild, testCoordinator, waitForOutput } from '../../tests/helpers/coordinator.ts';
import { parseNpy } from '../../shaders/npy.ts';
import { decodeSafetensors } from './safetensors.ts';

/** A small MLP for a few rounds: 4 shards of 32 digits a round. */
const spec = (seed: number) => ({
  model: { layers: [{ type: 'dense', units: 32 }, { type: 'relu' }, { type: 'dense', units: 10 }] },
  data: { dataset: 'mnist' },
  batch: 128,
  shardRows: 32,
  rounds: 5,
  learningRate: 0.003,
  shift: 1,
  seed,
});

describe('a train job on Dawn agents', () => {
  let coordinator: Coordinator;
  /** The first test's result, for infer. */
  let trained: Record<string, Uint8Array> = {};
  const agents: ReturnType<typeof spawnCli>[] = [];
  beforeAll(async () => {
    coordinator = await testCoordinator('pglite');
  });
  afterAll(async () => {
    for (const agent of agents) await stopChild(agent);
    await coordinator?.close();
  });

  it('runs round after round across two agents, each gradient checked, and comes out as one agent trains it, to the bit', async () => {
    const dev = await TestClient.signup(coordinator.url, 'train-e2e@example.com');
    await dev.useNewKey('ci');
    for (const name of ['left', 'right']) {
      const contributor = await TestClient.signup(coordinator.url, `train-${name}@example.com`);
      agents.push(spawnCli(['agent', '--url', coordinator.url, '--key', await contributor.useNewKey('agent'), '--name', name]));
    }
    await Promise.all(agents.map((a) => waitForOutput(a, /connected as node/)));
    const run = async () => {
      const { id, units } = await dev.json('POST', '/api/jobs', { kind: 'train', spec: spec(7) }, 201);
      expect(units).toBe(20); // 5 rounds of 4: each round's are made once the round before is decided
      const job = await dev.waitForJob(id, 300_000);
      expect(job.state, job.error).toBe('done');
      const res = await dev.call('GET', `/api/jobs/${id}/result`);
      expect(res.headers.get('content-type')).toBe('application/zip');
      const files = unzipSync(new Uint8Array(await res.arrayBuffer()));
      const units_ = await dev.json('GET', `/api/jobs/${id}/units`);
      const ran = await coordinator.deps.db.selectFrom('attempts').innerJoin('units', 'units.id', 'attempts.unit_id').select(['attempts.node_id', 'units.round']).where('units.job_id', '=', id).where('attempts.state', '=', 'valid').execute();
      return { id, files, units: units_, nodes: new Set(ran.map((a) => a.node_id)).size, rounds: new Set(ran.map((a) => a.round)).size };
    };
    const two = await run();
    trained = two.files;
    expect(two.units.verification).toMatchObject({ method: 'check', executions: 20, valid: 20, invalid: 0 });
    expect([two.nodes, two.rounds, two.units.units.length]).toEqual([2, 5, 20]);
    expect(Object.keys(two.files).sort()).toEqual(['layers.0.bias.npy', 'layers.0.weight.npy', 'layers.2.bias.npy', 'layers.2.weight.npy', 'model.safetensors', 'training.json']);
    const summary = JSON.parse(new TextDecoder().decode(two.files['training.json']!));
    expect(summary.curve.map((p: { round: number; rows: number }) => [p.round, p.rows])).toEqual([1, 2, 3, 4, 5].map((r) => [r, 128]));
    expect(summary.testRows).toBe(2000);
    expect(summary.testAccuracy).toBeGreaterThan(0.3); // five small steps from random weights
    const { tensors } = decodeSafetensors(two.files['model.safetensors']!);
    expect(tensors['layers.0.weight']!.shape).toEqual([784, 32]);
    expect([...parseNpy(two.files['layers.0.weight.npy']!).data]).toEqual([...tensors['layers.0.weight']!.data]);

    // One agent alone, same spec and seed: the same curve and weights, bit for bit (one kind of
    // device runs the same kernels on the same shards, and the coordinator sums in unit order).
    await stopChild(agents.pop()!);
    const one = await run();
    expect(one.nodes).toBe(1);
    expect(JSON.parse(new TextDecoder().decode(one.files['training.json']!)).curve).toEqual(summary.curve);
    expect(one.files['model.safetensors']).toEqual(two.files['model.safetensors']);
  });

  it('an agent killed mid-round: its shards go to the other agent and the training finishes', async () => {
    const dev = await TestClient.signup(coordinator.url, 'train-kill@example.com');
    await dev.useNewKey('ci');
    const ids: string[] = [];
    for (const name of ['doomed', 'survivor']) {
      const contributor = await TestClient.signup(coordinator.url, `train-${name}@example.com`);
      const agent = spawnCli(['agent', '--url', coordinator.url, '--key', await contributor.useNewKey('agent'), '--name', name]);
      agents.push(agent);
      ids.push((await waitForOutput(agent, /connected as node (\S+)/))[1]!);
    }
    const { id } = await dev.json('POST', '/api/jobs', { kind: 'train', spec: { ...spec(11), model: { layers: [{ type: 'dense', units: 64 }, { type: 'relu' }, { type: 'dense', units: 10 }] }, shardRows: 64, batch: 256, rounds: 6 } }, 201);
    // Once the doomed agent holds a shard of a later round, it dies without a word.
    const db = coordinator.deps.db;
    await eventually(async () => (await db.selectFrom('attempts').innerJoin('units', 'units.id', 'attempts.unit_id').select('attempts.id').where('attempts.node_id', '=', ids[0]!).where('attempts.state', '=', 'leased').where('units.round', '>=', 2).executeTakeFirst()) ?? null, 'a lease of round 3 on the doomed agent', 120_000, 20);
    const doomed = agents.at(-2)!;
    doomed.kill('SIGKILL');
    const job = await dev.waitForJob(id, 300_000);
    expect(job.state, job.error).toBe('done');
    const lost = await db.selectFrom('attempts').select('state').where('node_id', '=', ids[0]!).where('state', 'not in', ['valid']).execute();
    expect(lost.length).toBeGreaterThan(0);
    const summary = JSON.parse(new TextDecoder().decode(unzipSync(new Uint8Array(await (await dev.call('GET', `/api/jobs/${id}/result`)).arrayBuffer()))['training.json']!));
    expect(summary.curve.map((p: { rows: number }) => p.rows)).toEqual([256, 256, 256, 256, 256, 256]);
  });

  it('infer on the trained weights: predictions whose accuracy is the model\'s test accuracy, from the zip or its .safetensors alone', async () => {
    expect(Object.keys(trained)).toContain('model.safetensors');
    const dev = await TestClient.signup(coordinator.url, 'infer-e2e@example.com');
    await dev.useNewKey('ci');
    const summary = JSON.parse(new TextDecoder().decode(trained['training.json']!));
    const results: Int32Array[] = [];
    for (const weights of [zipSync(trained), trained['model.safetensors']!]) {
      const { id, units } = await dev.json('POST', '/api/jobs', { kind: 'infer', spec: { weights: await dev.upload(weights), data: { dataset: 'mnist' }, rowsPerUnit: 500 } }, 201);
      expect(units).toBe(4);
      const job = await dev.waitForJob(id, 300_000);
      expect(job.state, job.error).toBe('done');
      const files = unzipSync(new Uint8Array(await (await dev.call('GET', `/api/jobs/${id}/result`)).arrayBuffer()));
      expect(Object.keys(files).sort()).toEqual(['predictions.npy', 'scores.npy', 'summary.json']);
      const out = JSON.parse(new TextDecoder().decode(files['summary.json']!));
      // The coordinator's CPU forward pass gave the test accuracy; the agents' GPU one gives the
      // predictions: equal but for a near-tie's argmax (one row in 2,000 at most).
      expect(out.rows).toBe(2000);
      expect(Math.abs(out.accuracy - summary.testAccuracy)).toBeLessThanOrEqual(1 / 2000);
      expect(parseNpy(files['scores.npy']!)).toMatchObject({ rows: 2000, cols: 10 });
      results.push(new Int32Array(files['predictions.npy']!.slice(-8000).buffer));
      expect((await dev.json('GET', `/api/jobs/${id}/units`)).verification).toMatchObject({ method: 'check', valid: 4, invalid: 0 });
    }
    expect(results[1]).toEqual(results[0]);
    const bad = await dev.call('POST', '/api/jobs', { kind: 'infer', spec: { weights: await dev.upload(new TextEncoder().encode('not weights')), data: { dataset: 'mnist' } } });
    expect([bad.status, (await bad.json()).error.message]).toEqual([400, expect.stringMatching(/^spec\.weights: not a \.safetensors file/)]);
  });
});
