import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Supernet, SupernetError } from '../../server/api/client.ts';
import type { Coordinator } from '../../server/coordinator.ts';
import { parseNpy } from '../../shaders/npy.ts';
import { TestClient } from '../helpers/client.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { RawNode } from '../helpers/raw-node.ts';

/** The calls a developer reaches for (#20): a job's events as an async iterator, cancel by AbortSignal, the result as a stream. */
describe('the typed client, beyond one method per operation', () => {
  let coordinator: Coordinator;
  let api: Supernet;
  let node: RawNode;
  beforeAll(async () => {
    coordinator = await testCoordinator('pglite');
    const dev = await TestClient.signup(coordinator.url, 'client-dev@example.com');
    api = new Supernet({ url: coordinator.url, key: await dev.useNewKey() });
    const worker = await TestClient.signup(coordinator.url, 'client-worker@example.com');
    node = await RawNode.connect(coordinator.url, await worker.useNewKey());
    await node.hello();
  });
  afterAll(async () => {
    node?.close();
    await coordinator?.close();
  });

  it("iterates a job's events to its end, and streams its result", async () => {
    const job = await api.submitJob({ kind: 'matmul', spec: { random: { m: 32, k: 16, n: 32, seed: 7 }, tile: 16 } });
    const seen: number[] = [];
    const following = (async () => {
      for await (const view of api.events(job.id)) seen.push(view.progress.verified);
    })();
    for (let i = 0; i < 4; i++) {
      const lease = await node.lease();
      await node.submit(lease, await node.compute(lease));
    }
    await following; // the iterator ends with the job
    expect(seen.at(-1)).toBe(4);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    const chunks: Uint8Array[] = [];
    for await (const chunk of await api.resultStream(job.id)) chunks.push(chunk);
    const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
    chunks.reduce((at, c) => (bytes.set(c, at), at + c.byteLength), 0);
    expect(parseNpy(bytes)).toMatchObject({ rows: 32, cols: 32 });
    expect(bytes).toEqual(await api.jobResult(job.id));
  });

  it('cancels the job when the signal aborts, returning its escrow, and rejects with the reason', async () => {
    const before = (await api.me()).balance;
    const controller = new AbortController();
    const running = api.run({ kind: 'matmul', spec: { random: { m: 64, k: 64, n: 64, seed: 8 }, tile: 32 } }, { signal: controller.signal, onProgress: () => controller.abort(new Error('the user closed the tab')) });
    await expect(running).rejects.toThrow('the user closed the tab');
    const [job] = (await api.listJobs()).jobs;
    expect(job).toMatchObject({ state: 'cancelled' });
    expect((await api.me()).balance).toBe(before);
    // Errors carry the API's code and message.
    const refused = await api.getJob('00000000-0000-4000-8000-000000000000').catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(SupernetError);
    expect(refused).toMatchObject({ status: 404, code: 'not_found' });
  });
});
