import { afterEach, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { TestClient } from '../helpers/client.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { RawNode } from '../helpers/raw-node.ts';
import { storeKinds } from '../helpers/stores.ts';

describe.each(storeKinds)("a node's own figures and the top contributors (%s)", (store) => {
  let coordinator: Coordinator;
  const nodes: RawNode[] = [];
  afterEach(async () => {
    nodes.splice(0).forEach((n) => n.close());
    await coordinator?.close();
  });

  it('counts a node\'s verified units and credits from the ledger, only for the node or its account, and ranks contributors', async () => {
    coordinator = await testCoordinator(store);
    const dev = await TestClient.signup(coordinator.url, 'dev-stats@example.com');
    await dev.useNewKey();
    await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 32, k: 24, n: 8, seed: 5 }, tile: 16 }, verification: 'freivalds' }, 201);
    const worker = await TestClient.signup(coordinator.url, 'worker-stats@example.com');
    const node = await RawNode.connect(coordinator.url, await worker.useNewKey());
    nodes.push(node);
    const { nodeId } = await node.hello();
    const startedAt = Date.now();
    for (let i = 0; i < 2; i++) {
      const lease = await node.lease();
      expect(await node.submit(lease, await node.compute(lease))).toMatchObject({ status: 'accepted' });
    }
    const pay = 2 * 16 * 24 * 8 * 1e-12; // each unit's FLOPs × the bid (1 credit per TFLOP), rounded up to 1 µcr
    const byToken = await (await fetch(`${coordinator.url}/api/nodes/${nodeId}?since=${startedAt}`, { headers: { authorization: `Bearer ${node.nodeToken}` } })).json();
    expect(byToken).toMatchObject({ id: nodeId, online: true, units: { valid: 2, invalid: 0, inFlight: 0 }, credits: { earned: 2 * Math.ceil(pay * 1e6) / 1e6, pending: 0, since: 2 * Math.ceil(pay * 1e6) / 1e6 } });
    expect(byToken.tflopsVerified).toBeCloseTo(2 * 2 * 16 * 24 * 8 / 1e12, 15);
    // Its account sees it too; since a moment after the work, nothing was earned.
    expect((await worker.json('GET', `/api/nodes/${nodeId}?since=${Date.now() + 60_000}`)).credits.since).toBe(0);
    // Anyone else: no such node of theirs; nobody at all: sign in.
    expect((await dev.call('GET', `/api/nodes/${nodeId}`)).status).toBe(404);
    expect((await fetch(`${coordinator.url}/api/nodes/${nodeId}`)).status).toBe(401);
    expect((await dev.call('GET', '/api/nodes/not-a-uuid')).status).toBe(404);

    const board = await worker.json('GET', '/api/leaderboard');
    expect(board.contributors).toEqual([{ rank: 1, name: expect.stringMatching(/^wor… #[0-9a-f]{4}$/), unitsVerified: 2, earned: byToken.credits.earned, you: true }]);
    expect((await dev.json('GET', '/api/leaderboard?period=day')).contributors[0].you).toBe(false);
    expect((await dev.call('GET', '/api/leaderboard?limit=0')).status).toBe(400);
  });
});
