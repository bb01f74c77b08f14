import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.ts';
import { startCoordinator, type Coordinator } from '../../server/coordinator.ts';
import { parseNpy } from '../../shaders/npy.ts';
import { TestClient } from '../helpers/client.ts';
import { storeEnv } from '../helpers/coordinator.ts';
import { expectClose, randomSpecReference } from '../helpers/matrices.ts';
import { RawNode } from '../helpers/raw-node.ts';
import { startS3, type TestS3 } from '../helpers/s3.ts';
import { freshPostgresUrl } from '../helpers/stores.ts';

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
/** The files a coordinator keeps under its own data directory's blobs/ (its spool aside). */
const localBlobs = (c: Coordinator) => readdirSync(c.deps.blobs.dir).filter((d) => d !== 'tmp');

describe('blobs in an S3-compatible bucket', () => {
  let s3: TestS3;
  const coordinators: Coordinator[] = [];
  beforeAll(async () => {
    s3 = await startS3();
  });
  afterAll(async () => {
    for (const c of coordinators) await c.close();
    await s3?.close();
  });

  it('keeps uploads, outputs and results in the bucket, not on the coordinator disk', async () => {
    const coordinator = await startCoordinator(loadConfig({ PORT: '0', ...(await storeEnv('pglite')), ...s3.env }));
    coordinators.push(coordinator);
    const dev = await TestClient.signup(coordinator.url, 'dev@s3.test');
    await dev.useNewKey();

    const bytes = new Uint8Array(300_000).map((_, i) => (i * 7) % 251);
    const put = await dev.call('PUT', '/api/blobs', bytes);
    expect(put.status).toBe(201);
    expect((await put.json()).sha256).toBe(sha(bytes));
    // Fetched by many at once before anyone has read it (nodes starting on one panel): one read
    // of the bucket serves them all, each its own whole copy.
    const backend = coordinator.deps.blobs.bytes;
    const read = backend.read.bind(backend);
    const reads: string[] = [];
    backend.read = (key) => (reads.push(key), read(key));
    for (const got of await Promise.all(Array.from({ length: 8 }, () => fetch(`${coordinator.url}/api/blobs/${sha(bytes)}`)))) {
      expect(got.headers.get('content-length')).toBe('300000');
      expect(new Uint8Array(await got.arrayBuffer())).toEqual(bytes);
    }
    expect(reads).toEqual([sha(bytes)]);
    backend.read = read;

    // Bad uploads change nothing there either: a damaged one (400), an oversized one (413).
    const damaged = await dev.call('PUT', '/api/blobs', bytes.subarray(1), { 'x-content-sha256': sha(bytes) });
    expect(damaged.status).toBe(400);
    expect((await fetch(`${coordinator.url}/api/blobs/${sha(bytes.subarray(1))}`)).status).toBe(404);

    // A job end to end: its panels, the node's inline outputs and the assembled result.
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 32, k: 8, n: 32, seed: 3 }, tile: 16 }, verification: 'check' }, 201);
    const worker = await TestClient.signup(coordinator.url, 'node@s3.test');
    const node = await RawNode.connect(coordinator.url, await worker.useNewKey());
    try {
      await node.hello();
      const finished = dev.waitForJob(job.id, 60_000);
      let ended = false;
      void finished.finally(() => (ended = true));
      while (!ended) {
        node.send({ type: 'request', slots: 1 });
        const lease = await node.next('lease', 500).catch(() => null);
        if (lease) await node.submit(lease, await node.compute(lease));
      }
      expect(await finished).toMatchObject({ state: 'done' });
    } finally {
      node.close();
    }
    const result = parseNpy(new Uint8Array(await (await dev.call('GET', `/api/jobs/${job.id}/result`)).arrayBuffer()));
    expectClose(result, randomSpecReference(32, 8, 32, 3), 8);
    expect(localBlobs(coordinator)).toEqual([]);
    expect(readdirSync(join(coordinator.deps.blobs.dir, 'tmp'))).toEqual([]); // spooled uploads were moved up, or removed
  });

  it('refuses to start on a bucket it cannot reach, and says what to check', async () => {
    const env = { PORT: '0', ...(await storeEnv('pglite')), ...s3.env, SUPERNET_S3_BUCKET: 'no-such-bucket' };
    await expect(startCoordinator(loadConfig(env))).rejects.toThrow(/no-such-bucket.*cannot be reached.*SUPERNET_S3_BUCKET/s);
  });

  it.runIf(process.env.TEST_DATABASE_URL)('lets coordinators with separate data directories serve each other’s blobs', async () => {
    const databaseUrl = await freshPostgresUrl();
    const start = () => startCoordinator(loadConfig({ PORT: '0', DATABASE_URL: databaseUrl, SUPERNET_DATA: mkdtempSync(join(tmpdir(), 'supernet-s3-')), ...s3.env }));
    const one = await start();
    coordinators.push(one);
    const two = await start();
    coordinators.push(two);
    const dev = await TestClient.signup(one.url, 'shared@s3.test');
    await dev.useNewKey();
    const bytes = new Uint8Array(70_000).map((_, i) => (i * 13) % 256);
    expect((await dev.call('PUT', '/api/blobs', bytes)).status).toBe(201);
    const got = await fetch(`${two.url}/api/blobs/${sha(bytes)}`);
    expect(got.status).toBe(200);
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(bytes);
  });
});
