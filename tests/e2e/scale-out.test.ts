import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.ts';
import { startCoordinator, type Coordinator } from '../../server/coordinator.ts';
import { parseNpy } from '../../shaders/npy.ts';
import { TestClient } from '../helpers/client.ts';
import { expectClose, randomSpecReference } from '../helpers/matrices.ts';
import { RawNode } from '../helpers/raw-node.ts';
import { freshPostgresUrl } from '../helpers/stores.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Concurrency shows only on PostgreSQL (PGlite has one connection), so this runs there only.
describe.runIf(process.env.TEST_DATABASE_URL)('two coordinator processes on one PostgreSQL', () => {
  const coordinators: Coordinator[] = [];
  const nodes: RawNode[] = [];
  afterAll(async () => {
    nodes.forEach((n) => n.close());
    for (const c of coordinators) await c.close();
  });

  it('share the queue: racing nodes on both verify every unit exactly once', async () => {
    const databaseUrl = await freshPostgresUrl();
    const dataDir = mkdtempSync(join(tmpdir(), 'supernet-scale-')); // blobs are shared through one directory here
    for (let i = 0; i < 2; i++) coordinators.push(await startCoordinator(loadConfig({ PORT: '0', DATABASE_URL: databaseUrl, SUPERNET_DATA: dataDir })));
    const [one, two] = coordinators as [Coordinator, Coordinator];
    const dev = await TestClient.signup(one.url, 'dev@example.com');
    await dev.useNewKey();
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 96, k: 40, n: 96, seed: 4 }, tile: 16 }, verification: 'replicate' }, 201);
    expect(job.units).toBe(36);

    // Six CPU nodes of six accounts, three on each coordinator, each working as fast as it can
    // until the job is done (a replica dealt by one coordinator may reach a node of the other).
    let ended = false;
    const work = async (url: string, name: string) => {
      const client = await TestClient.signup(url, `${name}@example.com`);
      const node = await RawNode.connect(url, await client.useNewKey());
      nodes.push(node);
      await node.hello();
      while (!ended) {
        node.send({ type: 'request', slots: 1 });
        const lease = await node.next('lease', 500).catch(() => null);
        if (lease) await node.submit(lease, await node.compute(lease));
      }
    };
    const finished = dev.waitForJob(job.id, 60_000).finally(() => (ended = true));
    await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((name, i) => work((i % 2 ? two : one).url, name)));

    const done = await finished;
    expect(done).toMatchObject({ state: 'done', progress: { units: 36, verified: 36 } });
    // Each unit verified once, on valid results from distinct accounts (one alone where a
    // trusted node ran it and later passed a spot check; two or more otherwise).
    const units = await one.deps.db.selectFrom('units').select(['id', 'state']).execute();
    expect(units.filter((u) => u.state === 'verified')).toHaveLength(36);
    const valid = await one.deps.db.selectFrom('attempts').select(['unit_id', 'holder']).where('state', '=', 'valid').where('known', '=', false).execute();
    for (const u of units) {
      const holders = valid.filter((v) => v.unit_id === u.id).map((v) => v.holder);
      expect(holders.length).toBeGreaterThanOrEqual(1);
      expect(new Set(holders).size).toBe(holders.length);
    }
    const result = parseNpy(new Uint8Array(await (await dev.call('GET', `/api/jobs/${job.id}/result`)).arrayBuffer()));
    expectClose(result, randomSpecReference(96, 40, 96, 4), 40);
  });
});
