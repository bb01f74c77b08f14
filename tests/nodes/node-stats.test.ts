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
    await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 32, k: 24, n: 8, seed: 5 }, tile: 16 }, verification: 'check' }, 201);
    const worker = await TestClient.signup(coordinator.url, 'worker-stats@example.com');
    const node = await RawNode.connect(coordinator.url, await worker.useNewKey());
    nodes.push(node);
    const { nodeId } = await node.hello();
    const startedAt = Date.now();
    for (let i = 0; i < 2; i++) {
      const lease = await node.lease();
      expect(await node.submit(lease, await node.compute(lease))).toMatchObject({ status: 'accepted' });
    }
    const pay = 2 * 16 * 24 * 8 * 1e-9; // each unit's FLOPs × the bid (1 credit per GFLOP), rounded up to 1 µcr
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

  it('serves Prometheus metrics a person can graph: lease and verification histograms, verified units, sockets, queue depth by job', async () => {
    coordinator = await testCoordinator(store);
    const dev = await TestClient.signup(coordinator.url, 'dev-metrics@example.com');
    await dev.useNewKey();
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 32, k: 24, n: 8, seed: 6 }, tile: 16 }, verification: 'check' }, 201);
    const scrape = async () => {
      const res = await fetch(`${coordinator.url}/metrics`);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      const value = (series: string) => Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.slice(series.length + 1) ?? NaN);
      return { text, value };
    };
    const stats = async () => (await fetch(`${coordinator.url}/api/stats`)).json();
    const before = await scrape();
    expect(before.value(`supernet_queue_units{job="${job.id}"}`)).toBe(2);
    expect(await stats()).toMatchObject({ jobsRunning: 1, unitsQueued: 2, unitsVerified: 0, verification: { valid: 0, invalid: 0, expired: 0 } });
    expect(before.value('supernet_node_sockets')).toBe(0);
    const worker = await TestClient.signup(coordinator.url, 'worker-metrics@example.com');
    const node = await RawNode.connect(coordinator.url, await worker.useNewKey());
    nodes.push(node);
    await node.hello();
    for (let i = 0; i < 2; i++) {
      const lease = await node.lease();
      expect(await node.submit(lease, await node.compute(lease))).toMatchObject({ status: 'accepted' });
    }
    const after = await scrape();
    expect(after.value('supernet_verified_units_total')).toBe(2);
    expect(after.value('supernet_results_total{status="accepted"}')).toBe(2);
    expect(after.value('supernet_lease_seconds_count{outcome="leased"}')).toBe(2);
    expect(after.value('supernet_verification_seconds_count{status="accepted"}')).toBe(2);
    expect(after.text).toMatch(/^supernet_lease_seconds_bucket\{le="0\.01",outcome="leased"\} \d+$/m);
    expect(after.value('supernet_node_sockets')).toBe(1);
    expect(after.value('supernet_nodes_online')).toBe(1);
    expect(after.text).not.toContain(`job="${job.id}"`); // done: no longer queued
    // The network page's figures, from the jobs' and nodes' counters (server/stats/routes.ts).
    await dev.waitForJob(job.id);
    expect(await stats()).toMatchObject({ nodesOnline: 1, jobsRunning: 0, unitsQueued: 0, unitsVerified: 2, verification: { valid: 2, invalid: 0, expired: 0 } });
    expect(after.value('supernet_ledger_transfers')).toBeGreaterThan(before.value('supernet_ledger_transfers'));
  });

  it('does not ask an idle node for work on every result elsewhere: once when it asks, then when work appears or a second passes', async () => {
    coordinator = await testCoordinator(store);
    const dev = await TestClient.signup(coordinator.url, 'dev-idle@example.com');
    await dev.useNewKey();
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 32, k: 8, n: 40, seed: 7 }, tile: 8 }, verification: 'check' }, 201);
    expect(job.units).toBe(20);
    const none = async () => {
      const text = await (await fetch(`${coordinator.url}/metrics`)).text();
      return Number(/^supernet_lease_seconds_count\{outcome="none"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    };
    // An idle node: it runs no matmul, so no claim of its ever finds work.
    const idle = await RawNode.connect(coordinator.url, await (await TestClient.signup(coordinator.url, 'idle@example.com')).useNewKey());
    nodes.push(idle);
    await idle.hello({ kinds: ['other'] });
    idle.send({ type: 'request', slots: 1 });
    const worker = await RawNode.connect(coordinator.url, await (await TestClient.signup(coordinator.url, 'busy@example.com')).useNewKey());
    nodes.push(worker);
    await worker.hello();
    const started = Date.now();
    const before = await none();
    for (let i = 0; i < 20; i++) {
      const lease = await worker.lease();
      expect(await worker.submit(lease, await worker.compute(lease))).toMatchObject({ status: 'accepted' });
    }
    const seconds = (Date.now() - started) / 1000;
    // 40 frames from the worker (20 requests, 20 results), each a pump round: before, the idle
    // node was tried in every one. Now: about once a second, plus the worker's own few.
    expect(await none() - before).toBeLessThanOrEqual(Math.ceil(seconds) + 4);
    expect(await dev.waitForJob(job.id)).toMatchObject({ state: 'done' });
  });
});
