import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { matmulReference } from './reference.ts';
import { parseNpy, roundedToHalf } from '../../shaders/npy.ts';
import { randomMatrix } from './random.ts';
import { TestClient } from '../../tests/helpers/client.ts';
import { spawnCli, stopChild, testCoordinator, waitForOutput } from '../../tests/helpers/coordinator.ts';
import { expectClose, randomSpecReference } from '../../tests/helpers/matrices.ts';
import { storeKinds } from '../../tests/helpers/stores.ts';

/** Reads GET /api/jobs/:id/events to its end and returns the progress events' data. */
async function progressEvents(url: string, key: string, jobId: string): Promise<any[]> {
  const res = await fetch(`${url}/api/jobs/${jobId}/events`, { headers: { authorization: `Bearer ${key}` } });
  expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
  const text = await res.text();
  return text.split('\n\n').filter((block) => block.includes('event: progress')).map((block) => JSON.parse(block.split('\n').find((l) => l.startsWith('data: '))!.slice(6)));
}

describe.each(storeKinds)('a matmul job from submission to verified result (%s)', (store) => {
  // Replication: the issue-3 promise, two nodes of different accounts agreeing on every unit.
  let coordinator: Coordinator;
  const agents: ReturnType<typeof spawnCli>[] = [];

  beforeAll(async () => {
    coordinator = await testCoordinator(store);
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => stopChild(a)));
    await coordinator?.close();
  });

  it('runs 256×512 · 512×384 on two Dawn agents of different accounts and returns A·B', async () => {
    const dev = await TestClient.signup(coordinator.url, `dev-${store}@example.com`);
    await dev.useNewKey('ci');
    const a = randomMatrix(256, 512, 11);
    const b = randomMatrix(512, 384, 12);
    const spec = { a: await dev.uploadMatrix(a), b: await dev.uploadMatrix(b) };
    const submitted = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec, verification: 'replicate' }, 201);
    expect(submitted).toMatchObject({ state: 'queued', units: 6, estimate: { flops: 2 * 2 * 256 * 512 * 384 } });
    const events = progressEvents(coordinator.url, dev.key, submitted.id);

    for (const name of ['alice', 'bob']) {
      const contributor = await TestClient.signup(coordinator.url, `${name}-${store}@example.com`);
      const key = await contributor.useNewKey('agent');
      const agent = spawnCli(['agent', '--url', coordinator.url, '--key', key, '--name', name]);
      agents.push(agent);
      await waitForOutput(agent, /connected as node/);
    }

    const job = await dev.waitForJob(submitted.id);
    expect(job).toMatchObject({ state: 'done', progress: { units: 6, verified: 6 } });
    // Server-sent progress: from queued, never backwards, ending done with the result link.
    const seen = await events;
    expect(seen[0]!.state).toBe('queued');
    expect(seen.at(-1)).toMatchObject({ state: 'done', progress: { verified: 6 }, result: `/api/jobs/${submitted.id}/result` });
    const verified = seen.map((e) => e.progress.verified);
    expect(verified).toEqual([...verified].sort((x, y) => x - y));
    expect(seen.length).toBeGreaterThanOrEqual(2); // how many between depends on the agents' pace
    const res = await dev.call('GET', `/api/jobs/${submitted.id}/result`);
    expect(res.status).toBe(200);
    // What assemble said the result is, kept to the download.
    expect([res.headers.get('content-type'), res.headers.get('content-disposition')]).toEqual(['application/octet-stream', `attachment; filename="matmul-${submitted.id}.npy"`]);
    expectClose(parseNpy(new Uint8Array(await res.arrayBuffer())), matmulReference(a, b), 512);

    // Each unit was accepted on two agreeing results from different accounts.
    const valid = await coordinator.deps.db
      .selectFrom('attempts')
      .innerJoin('units', 'units.id', 'attempts.unit_id')
      .select(['attempts.unit_id', 'attempts.holder'])
      .where('units.job_id', '=', submitted.id)
      .where('attempts.state', '=', 'valid')
      .execute();
    expect(valid).toHaveLength(12);
    for (const unitId of new Set(valid.map((v) => v.unit_id))) {
      expect(new Set(valid.filter((v) => v.unit_id === unitId).map((v) => v.holder)).size).toBe(2);
    }
  });

  it("with the check (Freivalds' test, matmul's default) runs each unit once on the same agents", async () => {
    const dev = await TestClient.signup(coordinator.url, `dev2-${store}@example.com`);
    await dev.useNewKey();
    const submitted = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 256, k: 512, n: 384, seed: 4 } } }, 201);
    expect(submitted).toMatchObject({ verification: 'check', estimate: { flops: 2 * 256 * 512 * 384 } });
    expect(await dev.waitForJob(submitted.id)).toMatchObject({ state: 'done', progress: { verified: 6 } });
    const res = await dev.call('GET', `/api/jobs/${submitted.id}/result`);
    expectClose(parseNpy(new Uint8Array(await res.arrayBuffer())), randomSpecReference(256, 512, 384, 4), 512);
    const attempts = await coordinator.deps.db
      .selectFrom('attempts')
      .innerJoin('units', 'units.id', 'attempts.unit_id')
      .select('attempts.state')
      .where('units.job_id', '=', submitted.id)
      .execute();
    expect(attempts.map((a) => a.state)).toEqual(Array(6).fill('valid'));
  });

  it('with precision f16: half-size float16 panels, the f16 kernel on the agents, C = A₁₆·B₁₆ in float32', async () => {
    const dev = await TestClient.signup(coordinator.url, `dev3-${store}@example.com`);
    await dev.useNewKey();
    const a = randomMatrix(256, 512, 21), b = randomMatrix(512, 384, 22);
    const spec = { a: await dev.uploadMatrix(a), b: await dev.uploadMatrix(b), precision: 'f16' };
    const submitted = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec }, 201);
    expect(await dev.waitForJob(submitted.id)).toMatchObject({ state: 'done', progress: { verified: 6 } });
    const units = await coordinator.deps.db.selectFrom('units').select(['inputs', 'params']).where('job_id', '=', submitted.id).execute();
    const panel = parseNpy(new Uint8Array(await (await dev.call('GET', `/api/blobs/${units[0]!.inputs[0]}`)).arrayBuffer()));
    expect(panel.dtype).toBe('f2');
    expect(units[0]!.params).toMatchObject({ precision: 'f16' });
    const c = parseNpy(new Uint8Array(await (await dev.call('GET', `/api/jobs/${submitted.id}/result`)).arrayBuffer()));
    expect(c.dtype).toBeUndefined(); // C is float32
    expectClose(c, matmulReference(roundedToHalf(a), roundedToHalf(b)), 512);
  });
});
