import { afterEach, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { payFor } from '../../server/ledger/credit.ts';
import { TestClient } from '../helpers/client.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { RawNode } from '../helpers/raw-node.ts';
import { storeKinds } from '../helpers/stores.ts';

/** A person's last days, a row a day: the portal's usage chart and the contribute page's daily history. */
describe.each(storeKinds)('usage by day (%s)', (store) => {
  let coordinator: Coordinator;
  const nodes: RawNode[] = [];
  afterEach(async () => {
    for (const n of nodes.splice(0)) n.close();
    await coordinator?.close();
  });

  it("counts today's jobs and spending for the developer, units and earnings for the contributor, zeros before", async () => {
    coordinator = await testCoordinator(store);
    const dev = await TestClient.signup(coordinator.url, 'usage-dev@example.com');
    await dev.useNewKey();
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 32, k: 16, n: 32, seed: 4 }, tile: 16 }, bid: 1 }, 201);
    const worker = await TestClient.signup(coordinator.url, 'usage-worker@example.com');
    const node = await RawNode.connect(coordinator.url, await worker.useNewKey());
    nodes.push(node);
    await node.hello();
    for (let i = 0; i < 4; i++) {
      const lease = await node.lease();
      await node.submit(lease, await node.compute(lease));
    }
    expect((await dev.waitForJob(job.id)).state).toBe('done');
    const pay = payFor(2 * 16 * 16 * 16, 1e6) / 1e6;
    const today = new Date().toISOString().slice(0, 10);

    const mine = (await dev.json('GET', '/api/usage')).days;
    expect(mine).toHaveLength(30);
    expect(mine.at(-1)).toEqual({ day: today, earned: 0, unitsVerified: 0, spent: 4 * pay, jobs: 1 });
    expect(mine.slice(0, -1).every((d: { earned: number; spent: number; jobs: number }) => d.earned === 0 && d.spent === 0 && d.jobs === 0)).toBe(true);
    const theirs = (await worker.json('GET', '/api/usage?days=7')).days;
    expect(theirs).toHaveLength(7);
    expect(theirs.at(-1)).toEqual({ day: today, earned: 4 * pay, unitsVerified: 4, spent: 0, jobs: 0 });
    expect((await worker.call('GET', '/api/usage?days=0')).status).toBe(400);
  });
});
