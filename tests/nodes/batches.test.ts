import { afterEach, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { sha256Hex } from '../../server/agent/runtime.ts';
import { encodeNpy } from '../../shaders/npy.ts';
import { TestClient } from '../helpers/client.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { RawNode } from '../helpers/raw-node.ts';

/**
 * Group commit (server/nodes/hub.ts): nodes that ask together are served by one claim round,
 * results that come together are judged in one transaction, and small outputs travel inside
 * their result frames.
 */
describe('batches', () => {
  let coordinator: Coordinator;
  const nodes: RawNode[] = [];
  afterEach(async () => {
    nodes.splice(0).forEach((n) => n.close());
    await coordinator?.close();
  });

  const metric = async (series: string) => {
    const text = await (await fetch(`${coordinator.url}/metrics`)).text();
    return Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.slice(series.length + 1) ?? NaN);
  };

  it('serves nodes that ask at once in shared claim rounds and judges results that come at once in shared transactions', async () => {
    coordinator = await testCoordinator('pglite');
    const dev = await TestClient.signup(coordinator.url, 'dev-batch@example.com');
    await dev.useNewKey();
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 96, k: 8, n: 8, seed: 4 }, tile: 8 }, verification: 'check' }, 201);
    const count = 12;
    for (let i = 0; i < count; i++) {
      const client = await TestClient.signup(coordinator.url, `batch${i}@example.com`);
      const node = await RawNode.connect(coordinator.url, await client.useNewKey());
      nodes.push(node);
      await node.hello();
    }
    const roundsBefore = await metric('supernet_claim_round_nodes_count');
    for (const node of nodes) node.send({ type: 'request', slots: 1 });
    const leases = await Promise.all(nodes.map((n) => n.next('lease')));
    expect(new Set(leases.map((l) => l.unit.id)).size).toBe(count); // no unit twice
    expect(await metric('supernet_claim_round_nodes_count') - roundsBefore).toBeLessThan(count);
    const outputs = await Promise.all(nodes.map((n, i) => n.compute(leases[i]!)));
    const acks = await Promise.all(nodes.map((n, i) => n.submitInline(leases[i]!, outputs[i]!)));
    expect(acks.map((a) => a.status)).toEqual(nodes.map(() => 'accepted'));
    expect(await metric('supernet_result_batch_results_sum')).toBe(count);
    expect(await metric('supernet_result_batch_results_count')).toBeLessThan(count);
    expect(await metric('supernet_verified_units_total')).toBe(count);
    expect((await dev.json('GET', `/api/jobs/${job.id}`)).progress).toMatchObject({ verified: count });
    // A unit's output sent inside its frame is stored as an upload would store it.
    const bytes = encodeNpy(outputs[0]!);
    const stored = await fetch(`${coordinator.url}/api/blobs/${await sha256Hex(bytes)}`);
    expect(new Uint8Array(await stored.arrayBuffer())).toEqual(bytes);
  });

  it('counts each of a node\'s results judged in one batch towards its streak and its account\'s record', async () => {
    coordinator = await testCoordinator('pglite');
    const dev = await TestClient.signup(coordinator.url, 'dev-streak@example.com');
    await dev.useNewKey();
    await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 16, k: 8, n: 8, seed: 6 }, tile: 8 }, verification: 'check' }, 201);
    const node = await RawNode.connect(coordinator.url, await (await TestClient.signup(coordinator.url, 'streaker@example.com')).useNewKey());
    nodes.push(node);
    const welcome = await node.hello();
    node.send({ type: 'request', slots: 2 });
    const leases = [await node.next('lease'), await node.next('lease')];
    const frames = await Promise.all(leases.map(async (lease) => {
      const bytes = encodeNpy(await node.compute(lease));
      return { type: 'result' as const, attemptId: lease.attemptId, token: lease.token, output: await sha256Hex(bytes), data: Buffer.from(bytes).toString('base64') };
    }));
    for (const frame of frames) node.send(frame); // together: one batch
    expect([(await node.next('ack')).status, (await node.next('ack')).status]).toEqual(['accepted', 'accepted']);
    expect(await metric('supernet_result_batch_results_count')).toBe(1);
    const db = coordinator.deps.db;
    expect(await db.selectFrom('nodes').select(['valid', 'streak']).where('id', '=', welcome.nodeId).executeTakeFirstOrThrow()).toEqual({ valid: 2, streak: 2 });
    expect(await db.selectFrom('accounts').select('valid').where('id', '=', welcome.accountId!).executeTakeFirstOrThrow()).toEqual({ valid: 2 });
  });

  it('refuses a result frame whose data does not hash to its output, and stores nothing', async () => {
    coordinator = await testCoordinator('pglite');
    const dev = await TestClient.signup(coordinator.url, 'dev-forged@example.com');
    await dev.useNewKey();
    await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 8, k: 8, n: 8, seed: 5 }, tile: 8 }, verification: 'check' }, 201);
    const node = await RawNode.connect(coordinator.url, await (await TestClient.signup(coordinator.url, 'forger@example.com')).useNewKey());
    nodes.push(node);
    await node.hello();
    const lease = await node.lease();
    const right = await node.compute(lease);
    const other = encodeNpy({ ...right, data: right.data.map((v) => v + 1) });
    const ack = await node.submitInline(lease, right, Buffer.from(other).toString('base64'));
    expect(ack).toMatchObject({ status: 'refused', reason: expect.stringContaining('does not hash to its output') });
    expect((await fetch(`${coordinator.url}/api/blobs/${await sha256Hex(encodeNpy(right))}`)).status).toBe(404);
    expect((await fetch(`${coordinator.url}/api/blobs/${await sha256Hex(other)}`)).status).toBe(404);
    // The lease is still current: the right bytes are taken.
    expect(await node.submitInline(lease, right)).toMatchObject({ status: 'accepted' });
  });
});
