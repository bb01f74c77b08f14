import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../../server/db/index.ts';
import { parseNpy } from '../../shaders/npy.ts';
import { TestClient } from '../helpers/client.ts';
import { eventually, freePort, spawnCli, stopChild, storeEnv, testCoordinator, waitForOutput } from '../helpers/coordinator.ts';
import { expectClose, randomSpecReference } from '../helpers/matrices.ts';
import { storeKinds } from '../helpers/stores.ts';
import { RawNode } from '../helpers/raw-node.ts';

type Child = ReturnType<typeof spawnCli>;


async function agentFor(url: string, name: string, children: Child[]) {
  const client = await TestClient.signup(url, `${name}@example.com`);
  const agent = spawnCli(['agent', '--url', url, '--key', await client.useNewKey(), '--name', name]);
  children.push(agent);
  await waitForOutput(agent, /connected as node/);
  return { agent, accountId: client.accountId };
}

describe.each(storeKinds)('faults (%s)', (store) => {
  const children: Child[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => stopChild(c, 'SIGKILL')));
    for (const f of cleanups.splice(0)) await f();
  });

  it('an agent killed mid-unit: its leases expire, other nodes finish, the job completes', async () => {
    const coordinator = await testCoordinator(store, { SUPERNET_LEASE_TTL_MS: '1500' });
    cleanups.push(() => coordinator.close());
    const dev = await TestClient.signup(coordinator.url, 'dev@example.com');
    await dev.useNewKey();
    // 256 small units: one agent alone needs seconds for them, so it is still mid-job when killed
    // (16 units once let a fast run finish the whole job between the lease being seen and the kill).
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 1024, k: 256, n: 1024, seed: 5 }, tile: 64 } }, 201);

    const doomed = await agentFor(coordinator.url, 'doomed', children);
    const leasedBy = async () =>
      (await coordinator.deps.db.selectFrom('attempts').select('id').where('holder', '=', doomed.accountId).where('state', '=', 'leased').execute()).map((r) => r.id);
    await eventually(async () => (await leasedBy()).length > 0, 'the doomed agent to hold a lease', 60_000, 10);
    await stopChild(doomed.agent, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300)); // frames already on the wire land first
    const orphaned = await leasedBy();
    expect(orphaned.length).toBeGreaterThan(0);

    await Promise.all([agentFor(coordinator.url, 'rescuer1', children), agentFor(coordinator.url, 'rescuer2', children)]);
    const done = await dev.waitForJob(job.id);
    expect(done.state).toBe('done');
    const states = await coordinator.deps.db.selectFrom('attempts').select('state').where('id', 'in', orphaned).execute();
    expect(states.every((s) => s.state === 'expired')).toBe(true);
    const result = parseNpy(new Uint8Array(await (await dev.call('GET', `/api/jobs/${job.id}/result`)).arrayBuffer()));
    expectClose(result, randomSpecReference(1024, 256, 1024, 5), 256);
  }, 180_000); // three agents start one after another (Dawn, autotune): slow beside other tests

  it('an agent sent SIGTERM mid-unit finishes and reports the unit in hand, gives back the rest, and exits 0: nothing lapses', async () => {
    const coordinator = await testCoordinator(store);
    cleanups.push(() => coordinator.close());
    const dev = await TestClient.signup(coordinator.url, 'dev@example.com');
    await dev.useNewKey();
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 1024, k: 256, n: 1024, seed: 6 }, tile: 64 } }, 201);
    const leaving = await agentFor(coordinator.url, 'leaving', children);
    const held = () => coordinator.deps.db.selectFrom('attempts').select(['id', 'state']).where('holder', '=', leaving.accountId).execute();
    await eventually(async () => (await held()).some((a) => a.state === 'leased'), 'the agent to hold a lease', 60_000, 10);
    const exited = new Promise<number | null>((resolve) => leaving.agent.once('exit', resolve));
    leaving.agent.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(leaving.agent.output.join('')).toMatch(/SIGTERM: finishing the unit in hand[^\n]*\n[\s\S]*stopped: every result delivered/);
    // Nothing left out to lapse: each lease it had was reported (valid) or given back at once.
    const states = (await held()).map((a) => a.state);
    expect(states).not.toContain('leased');
    expect(states).not.toContain('expired');
    expect(states).toContain('valid');
    await agentFor(coordinator.url, 'staying', children);
    expect((await dev.waitForJob(job.id)).state).toBe('done');
  }, 180_000);

  it('a coordinator shutting down leases nothing more and says it is not ready, takes the result of a lease in hand, then closes', async () => {
    const coordinator = await testCoordinator(store, { SUPERNET_SHUTDOWN_GRACE_MS: '60000' });
    const dev = await TestClient.signup(coordinator.url, 'dev@example.com');
    await dev.useNewKey();
    await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 64, k: 32, n: 64, seed: 2 }, tile: 32 } }, 201);
    const worker = await TestClient.signup(coordinator.url, 'worker@example.com');
    const node = await RawNode.connect(coordinator.url, await worker.useNewKey());
    await node.hello();
    const lease = await node.lease();
    const status = async (path: string) => (await fetch(`${coordinator.url}${path}`)).status;
    expect([await status('/api/health/live'), await status('/api/health/ready')]).toEqual([200, 200]);
    const closing = coordinator.close();
    const ready = await eventually(async () => {
      const res = await fetch(`${coordinator.url}/api/health/ready`);
      return res.status === 503 ? res.json() : null;
    }, 'readiness to say 503');
    expect(ready).toEqual({ error: { code: 'not_ready', message: 'Shutting down: finishing the work in hand.' } });
    expect(await status('/api/health/live')).toBe(200);
    // The lease in hand is still answered.
    expect(await node.submit(lease, await node.compute(lease))).toMatchObject({ status: 'accepted' });
    await closing; // with no lease left out, it closes without waiting out its grace
    node.close();
  });

  it.each(['SIGKILL', 'SIGTERM'] as const)('the coordinator sent %s and restarted mid-job: the job completes, nothing lost, no unit verified twice, agents reconnect', async (signal) => {
    const env = { ...(await storeEnv(store)), PORT: String(await freePort()), SUPERNET_LEASE_TTL_MS: '3000', SUPERNET_SHUTDOWN_GRACE_MS: '5000' };
    const start = async () => {
      const child = spawnCli(['serve'], env);
      children.push(child);
      const [, url] = await waitForOutput(child, /coordinator on (http:\S+)/);
      return { child, url: url! };
    };
    let { child, url } = await start();
    const dev = await TestClient.signup(url, 'dev@example.com');
    await dev.useNewKey();
    const [m, k, n] = [768, 1024, 768];
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m, k, n, seed: 9 } }, verification: 'replicate' }, 201);
    const agents = [await agentFor(url, 'a1', children), await agentFor(url, 'a2', children)];

    const progress = await eventually(async () => {
      const j = await dev.json('GET', `/api/jobs/${job.id}`);
      return j.progress.verified >= 3 ? j.progress : null;
    }, 'three verified units', 120_000, 50);
    const stopped = child;
    await stopChild(child, signal);
    expect(progress.verified).toBeLessThan(progress.units); // stopped mid-job
    // SIGTERM: a clean exit after the results in hand (a lease a node has not finished lapses, or comes back with its resume).
    if (signal === 'SIGTERM') expect([stopped.exitCode, stopped.output.join('')]).toEqual([0, expect.stringMatching(/SIGTERM: leasing nothing more[\s\S]*stopped\n/)]);

    ({ child, url } = await start());
    const done = await dev.waitForJob(job.id, 180_000);
    expect(done).toMatchObject({ state: 'done', progress: { units: 36, verified: 36 } });
    // Each agent comes back (its backoff may outlast the rest of the job: up to 10 s between tries).
    const welcomes = (agent: Child) => agent.output.join('').match(/connected as node/g)?.length ?? 0;
    await eventually(async () => agents.every(({ agent }) => welcomes(agent) >= 2), 'both agents to reconnect', 30_000);
    const result = parseNpy(new Uint8Array(await (await dev.call('GET', `/api/jobs/${job.id}/result`)).arrayBuffer()));
    expectClose(result, randomSpecReference(m, k, n, 9), k);

    await stopChild(child);
    const db = await openStore({ dataDir: env.SUPERNET_DATA, databaseUrl: env.DATABASE_URL ?? null });
    cleanups.push(() => db.destroy());
    const units = await db.selectFrom('units').select(['id', 'state']).where('job_id', '=', job.id).execute();
    expect(units.filter((u) => u.state === 'verified')).toHaveLength(36);
    const job2 = await db.selectFrom('jobs').select(['units_verified', 'units_total']).where('id', '=', job.id).executeTakeFirstOrThrow();
    expect(job2).toEqual({ units_verified: 36, units_total: 36 }); // counted once each
    const valid = await db.selectFrom('attempts').select(['unit_id', 'holder']).where('state', '=', 'valid').where('known', '=', false).execute();
    for (const u of units) {
      const holders = valid.filter((v) => v.unit_id === u.id).map((v) => v.holder);
      expect(holders.length).toBeGreaterThanOrEqual(1);
      expect(new Set(holders).size).toBe(holders.length);
    }
  }, 180_000);
});
