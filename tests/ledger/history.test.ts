import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { TestClient } from '../helpers/client.ts';
import { eventually, testCoordinator } from '../helpers/coordinator.ts';
import { RawNode } from '../helpers/raw-node.ts';

/** The credit history people read (#21, point 7): a line a job, not two rows a unit; counterparties named; nothing voided shown. */
describe('the credit history, grouped', () => {
  let coordinator: Coordinator;
  beforeAll(async () => {
    coordinator = await testCoordinator('pglite');
  });
  afterAll(() => coordinator?.close());

  it('a job is one line for its contributor (units, pay, what is pending) and one for its developer; a transfer names the other account', async () => {
    const dev = await TestClient.signup(coordinator.url, 'history-dev@example.com');
    await dev.useNewKey();
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 128, k: 64, n: 128, seed: 4 }, tile: 32 }, name: 'weekly numbers' }, 201);
    const worker = await TestClient.signup(coordinator.url, 'history-worker@example.com');
    const node = await RawNode.connect(coordinator.url, await worker.useNewKey());
    await node.hello();
    for (let i = 0; i < 16; i++) {
      const lease = await node.lease();
      await node.submit(lease, await node.compute(lease));
    }
    node.close();
    await eventually(async () => (await dev.json('GET', `/api/jobs/${job.id}`)).state === 'done', 'the job done');
    await dev.json('POST', '/api/transfers', { to: 'history-worker@example.com', amount: 1.5, idempotencyKey: 'thanks', memo: 'thanks' }, 201);

    const rawRows = (await worker.json('GET', '/api/ledger/transfers')).transfers;
    const raw = rawRows.length;
    const { entries } = await worker.json('GET', '/api/ledger/history');
    expect(raw).toBeGreaterThan(16); // the ledger's rows: reservations, settlements, …
    expect(entries.map((e: { kind: string; title: string; units: number | null }) => [e.kind, e.title, e.units])).toEqual([
      ['transfer', 'From history-dev@example.com — thanks', null],
      ['earned', 'Verified work on a matmul job', 16],
      ['grant', 'Welcome credits', null],
    ]);
    const earned = entries[1];
    expect(earned.amount).toBeGreaterThan(0);
    expect(earned.pending).toBe(0);
    expect(entries[0].amount).toBe(1.5);

    const mine = (await dev.json('GET', '/api/ledger/history')).entries;
    expect(mine.map((e: { kind: string; title: string }) => [e.kind, e.title])).toEqual([
      ['transfer', 'To history-worker@example.com — thanks'],
      ['spent', 'Your job "weekly numbers" (matmul)'],
      ['grant', 'Welcome credits'],
    ]);
    expect(mine[1].amount).toBeCloseTo(-earned.amount, 6); // what it cost is what its worker was paid
    expect(mine[1].jobId).toBe(job.id);
  });
});
