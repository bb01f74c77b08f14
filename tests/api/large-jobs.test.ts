import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { unitsPerWrite, writeUnits } from '../../server/jobs/finish.ts';
import { TestClient } from '../helpers/client.ts';
import { eventually, testCoordinator } from '../helpers/coordinator.ts';
import { storeKinds } from '../helpers/stores.ts';

describe.each(storeKinds)('a large job is written a chunk a transaction (%s)', (store) => {
  let coordinator: Coordinator;
  let dev: TestClient;
  beforeAll(async () => {
    coordinator = await testCoordinator(store);
    dev = await TestClient.signup(coordinator.url, 'dev@example.com');
    await dev.useNewKey();
  });
  afterAll(() => coordinator?.close());

  // More than one chunk (unitsPerWrite), and not a whole number of them: 8×8 tiles of a 336×400 product, 42 × 50.
  const units = 42 * 50;
  const spec = (seed: number) => ({ kind: 'matmul', spec: { random: { m: 8 * 42, k: 8, n: 8 * 50, seed }, tile: 8 } });
  const available = async () => (await dev.json('GET', '/api/me')).wallet.available as number;
  const rows = (jobId: string) => coordinator.deps.db.selectFrom('units').select(['idx']).where('job_id', '=', jobId).orderBy('idx').execute();
  const job = (jobId: string) => coordinator.deps.db.selectFrom('jobs').select(['state', 'error', 'writing_until']).where('id', '=', jobId).executeTakeFirstOrThrow();

  it('writes every unit once, in order, and says when it is done writing', async () => {
    expect(units).toBeGreaterThan(unitsPerWrite);
    const created = await dev.json('POST', '/api/jobs', spec(1), 201);
    expect(created.units).toBe(units);
    expect((await rows(created.id)).map((r) => r.idx)).toEqual(Array.from({ length: units }, (_, i) => i));
    expect((await job(created.id)).writing_until).toBeNull();
    await dev.call('DELETE', `/api/jobs/${created.id}`);
  });

  it('fails a job its coordinator left half-written, and returns its escrow', async () => {
    const before = await available();
    const created = await dev.json('POST', '/api/jobs', spec(2), 201);
    expect(await available()).toBeLessThan(before);
    // As if the coordinator had died after its first chunk: the rest never written, the writing's
    // lease run out.
    await coordinator.deps.db.deleteFrom('units').where('job_id', '=', created.id).where('idx', '>=', unitsPerWrite).execute();
    await coordinator.deps.db.updateTable('jobs').set({ writing_until: new Date(Date.now() - 1000) }).where('id', '=', created.id).execute();
    const failed = await eventually(async () => {
      const j = await job(created.id);
      return j.state === 'failed' && j;
    }, 'the half-written job failed by the sweeper');
    expect(failed.error).toMatch(/stopped while this job's units were being written\. Submit it again/);
    expect(await available()).toBe(before);
  });

  it('stops writing a job cancelled meanwhile', async () => {
    const created = await dev.json('POST', '/api/jobs', spec(3), 201);
    await dev.json('DELETE', `/api/jobs/${created.id}`);
    const drafts = Array.from({ length: units + 10 }, () => ({ params: {}, inputs: [], flops: 1 }));
    expect(await writeUnits(coordinator.deps.db, { id: created.id, replication: 1 }, drafts, units)).toBe(false);
    expect(await rows(created.id)).toHaveLength(units);
  });
});
