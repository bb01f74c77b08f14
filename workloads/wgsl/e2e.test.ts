import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { encodeNpyArray, parseNpyArray } from '../../shaders/npy.ts';
import { TestClient } from '../../tests/helpers/client.ts';
import { eventually, spawnCli, stopChild, testCoordinator, waitForOutput } from '../../tests/helpers/coordinator.ts';
import { RawNode } from '../../tests/helpers/raw-node.ts';
import { endless, mandelbrot, mandelbrotReference, mandelbrotSize, saxpy } from './examples.ts';

const n = 1_000_000;
const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 3);
const y = Float32Array.from({ length: n }, (_, i) => (i % 1000) / 250 - 2);
const npy = (data: Float32Array) => encodeNpyArray({ shape: [data.length], element: 'f32', bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });

/** Developers' own kernels on two Dawn agents of two accounts, replicated; a liar among them. */
describe('wgsl jobs on Dawn agents', () => {
  let coordinator: Coordinator;
  let dev: TestClient;
  const agents: ReturnType<typeof spawnCli>[] = [];
  beforeAll(async () => {
    coordinator = await testCoordinator('pglite');
    dev = await TestClient.signup(coordinator.url, 'wgsl-e2e@example.com');
    await dev.useNewKey();
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => stopChild(a)));
    await coordinator?.close();
  });

  const result = async (id: string) => parseNpyArray(new Uint8Array(await (await dev.call('GET', `/api/jobs/${id}/result`)).arrayBuffer()));

  it('SAXPY over 1,000,000 elements in 8 units, with a liar on some of them caught by replication; then an integer Mandelbrot', async () => {
    const spec = { source: saxpy, inputs: [{ blob: await dev.upload(npy(x)) }, { blob: await dev.upload(npy(y)) }], output: { element: 'f32', length: n }, units: 8, flopsPerElement: 2 };
    const job = await dev.json('POST', '/api/jobs', { kind: 'wgsl', spec }, 201);
    expect(job).toMatchObject({ units: 8, verification: 'replicate' });

    // A liar takes units first: bytes of the right length, the wrong numbers, cheaply made.
    const mallory = await TestClient.signup(coordinator.url, 'wgsl-mallory@example.com');
    const liar = await RawNode.connect(coordinator.url, await mallory.useNewKey());
    await liar.hello({ kinds: ['wgsl'] });
    const lied = [];
    for (let i = 0; i < 3; i++) {
      const lease = await liar.lease();
      const count = (lease.unit.params as { count: number }).count;
      await liar.submit(lease, new Uint8Array(new Float32Array(count).fill(1).buffer));
      lied.push(lease.unit.id);
    }
    liar.close();

    for (const name of ['alice', 'bob']) {
      const contributor = await TestClient.signup(coordinator.url, `wgsl-${name}@example.com`);
      const agent = spawnCli(['agent', '--url', coordinator.url, '--key', await contributor.useNewKey('agent'), '--name', name]);
      agents.push(agent);
      await waitForOutput(agent, /connected as node/, 120_000);
    }
    expect(await dev.waitForJob(job.id, 240_000)).toMatchObject({ state: 'done' });
    const out = await result(job.id);
    expect([out.shape, out.element]).toEqual([[n], 'f32']);
    const got = new Float32Array(out.bytes.buffer, out.bytes.byteOffset, n);
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(got[i]! - (2.5 * x[i]! + y[i]!)) / Math.max(1, Math.abs(2.5 * x[i]! + y[i]!)));
    expect(worst).toBeLessThan(1e-6);
    const liarsAttempts = await coordinator.deps.db.selectFrom('attempts').innerJoin('nodes', 'nodes.id', 'attempts.node_id').select(['attempts.state']).where('nodes.account_id', '=', (await mallory.json('GET', '/api/me')).id).execute();
    expect(liarsAttempts.map((a) => a.state)).toEqual(['invalid', 'invalid', 'invalid']);

    const m = await dev.json('POST', '/api/jobs', { kind: 'wgsl', spec: { source: mandelbrot, output: { element: 'u32', length: mandelbrotSize.width * mandelbrotSize.height }, units: 8, flopsPerElement: 2000, loopBudget: 1000 } }, 201);
    expect(await dev.waitForJob(m.id, 240_000)).toMatchObject({ state: 'done' });
    const counts = await result(m.id);
    const iterations = new Uint32Array(counts.bytes.buffer, counts.bytes.byteOffset, counts.bytes.byteLength / 4);
    const want = mandelbrotReference();
    // float32 step for step; where a GPU fuses a multiply-add a point on the set's edge may escape an iteration apart.
    let apart = 0;
    for (let i = 0; i < want.length; i++) if (iterations[i] !== want[i]) apart++;
    expect(apart / want.length).toBeLessThan(0.01);
    expect(new Set(iterations).size).toBeGreaterThan(50);
  }, 400_000);

  it('cuts off a loop that never ends: the unit fails with the reason, and the same nodes complete the next job', async () => {
    const job = await dev.json('POST', '/api/jobs', { kind: 'wgsl', spec: { source: endless, output: { element: 'u32', length: 200 }, units: 2, loopBudget: 5000 } }, 201);
    for (const agent of agents) await waitForOutput(agent, /failed: the kernel ran past its loop budget \(5000 iterations an invocation, all loops together\) and was cut off/, 120_000);
    // Each node's failure report arrives after its log line.
    const failed = await eventually(async () => {
      const rows = await coordinator.deps.db.selectFrom('attempts').innerJoin('units', 'units.id', 'attempts.unit_id').select(['attempts.error', 'units.idx']).where('units.job_id', '=', job.id).where('attempts.state', '=', 'failed').execute();
      return rows.length >= 2 && rows;
    }, 'both failures reported');
    expect(failed.every((f) => f.idx === 1 && /loop budget/.test(f.error!))).toBe(true);
    await dev.json('DELETE', `/api/jobs/${job.id}`);

    const next = await dev.json('POST', '/api/jobs', { kind: 'wgsl', spec: { source: saxpy, inputs: [{ blob: await dev.upload(npy(x.subarray(0, 4096))) }, { blob: await dev.upload(npy(y.subarray(0, 4096))) }], output: { element: 'f32', length: 4096 }, units: 2 } }, 201);
    expect(await dev.waitForJob(next.id, 120_000)).toMatchObject({ state: 'done' });
    const nodes = await coordinator.deps.db.selectFrom('attempts').innerJoin('units', 'units.id', 'attempts.unit_id').select('attempts.node_id').where('units.job_id', '=', next.id).where('attempts.state', '=', 'valid').execute();
    expect(new Set(nodes.map((a) => a.node_id)).size).toBe(2);
  }, 300_000);
});
