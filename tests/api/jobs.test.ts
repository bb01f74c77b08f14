import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { encodeNpy } from '../../shaders/npy.ts';
import { randomMatrix } from '../../workloads/matmul/random.ts';
import { TestClient } from '../helpers/client.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { storeKinds } from '../helpers/stores.ts';

const blobBytesMax = 64 * 1024;

describe.each(storeKinds)('jobs and blobs refuse bad input and change nothing (%s)', (store) => {
  let coordinator: Coordinator;
  let dev: TestClient;
  beforeAll(async () => {
    coordinator = await testCoordinator(store, { SUPERNET_BLOB_MAX_BYTES: String(blobBytesMax) });
    dev = await TestClient.signup(coordinator.url, 'dev@example.com');
    await dev.useNewKey();
  });
  afterAll(() => coordinator?.close());

  const counts = async () => {
    const db = coordinator.deps.db;
    const n = async (t: 'jobs' | 'units' | 'blobs') => (await db.selectFrom(t).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n;
    return { jobs: await n('jobs'), units: await n('units'), blobs: await n('blobs'), files: readdirSync(join(coordinator.deps.blobs.dir, 'tmp')).length };
  };

  async function upload(bytes: Uint8Array) {
    const res = await dev.call('PUT', '/api/blobs', bytes);
    expect(res.status).toBe(201);
    return (await res.json()).sha256 as string;
  }

  /** Submits, expects `status` with a message matching `message`, and checks nothing changed. */
  async function refused(body: unknown, status: number, message: RegExp) {
    const before = await counts();
    const res = await dev.call('POST', '/api/jobs', body);
    const json = await res.json();
    expect(res.status, JSON.stringify(json)).toBe(status);
    expect(json.error.message).toMatch(message);
    expect(await counts()).toEqual(before);
  }

  const good = encodeNpy(randomMatrix(4, 3, 1));

  it('lists the workloads with a JSON Schema and examples that run as they are', async () => {
    const { workloads } = await dev.json('GET', '/api/workloads');
    const matmul = workloads.find((w: any) => w.kind === 'matmul');
    expect(matmul.specSchema.anyOf).toHaveLength(2);
    for (const spec of matmul.examples) await dev.json('POST', '/api/jobs', { kind: 'matmul', spec }, 201);
  });

  it("names the policy of a cheap check 'check', takes 'freivalds' as its older name, and checks by default where the workload can", async () => {
    const spec = { random: { m: 8, k: 8, n: 8, seed: 1 } };
    for (const [asked, got] of [[undefined, 'check'], ['check', 'check'], ['freivalds', 'check'], ['replicate', 'replicate']] as const) {
      const job = await dev.json('POST', '/api/jobs/estimate', { kind: 'matmul', spec, ...(asked ? { verification: asked } : {}) });
      expect(job.verification, String(asked)).toBe(got);
    }
    await refused({ kind: 'matmul', spec, verification: 'trust me' }, 400, /verification/);
  });

  it('refuses a blob that is not .npy', async () => {
    const sha = await upload(new TextEncoder().encode('hello, not a matrix'));
    await refused({ kind: 'matmul', spec: { a: sha, b: await upload(good) } }, 400, /spec\.a: not a \.npy file/);
  });

  it('refuses a truncated .npy', async () => {
    const sha = await upload(good.subarray(0, good.length - 5));
    await refused({ kind: 'matmul', spec: { a: await upload(good), b: sha } }, 400, /spec\.b: .*truncated/);
  });

  it('refuses a .npy that is not float32', async () => {
    const bytes = encodeNpy(randomMatrix(3, 2, 2));
    const at = new TextDecoder().decode(bytes.subarray(0, 64)).indexOf("'<f4'");
    bytes[at + 3] = '8'.charCodeAt(0); // now it claims float64
    await refused({ kind: 'matmul', spec: { a: await upload(bytes), b: await upload(good) } }, 400, /float32/);
  });

  it('refuses shapes that do not fit', async () => {
    await refused({ kind: 'matmul', spec: { a: await upload(good), b: await upload(good) } }, 400, /A is 4×3 and B is 4×3/);
  });

  it('refuses an unknown kind, a malformed spec, a blob never uploaded, and a body that is not JSON', async () => {
    await refused({ kind: 'bitcoin', spec: {} }, 400, /Unknown kind "bitcoin".*matmul/);
    await refused({ kind: 'matmul', spec: { random: { m: 0, k: 2, n: 2, seed: 1 } } }, 400, /spec: .*random\.m|Invalid matmul spec/);
    await refused({ kind: 'matmul', spec: { a: 'f'.repeat(64), b: 'e'.repeat(64) } }, 404, /upload it first/);
    const res = await dev.call('POST', '/api/jobs', undefined, { 'content-type': 'application/json' });
    expect(res.status).toBe(400);
  });

  it('refuses an upload over the limit while streaming it, and a damaged one, storing nothing', async () => {
    const before = await counts();
    const big = new Uint8Array(blobBytesMax + 1);
    const res = await dev.call('PUT', '/api/blobs', big);
    expect(res.status).toBe(413);
    expect((await res.json()).error.message).toMatch(/limit/);
    // Chunked, with no Content-Length: the limit holds while the bytes stream in.
    const chunks = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 20; i++) controller.enqueue(new Uint8Array(8 * 1024));
        controller.close();
      },
    });
    const streamed = await fetch(`${coordinator.url}/api/blobs`, { method: 'PUT', headers: { authorization: `Bearer ${dev.key}` }, body: chunks, duplex: 'half' } as RequestInit);
    expect(streamed.status).toBe(413);
    const damaged = await dev.call('PUT', '/api/blobs', good, { 'x-content-sha256': '0'.repeat(64) });
    expect(damaged.status).toBe(400);
    expect(await counts()).toEqual(before);
  });

  it('serves blobs as immutable', async () => {
    const sha = await upload(good);
    const res = await fetch(`${coordinator.url}/api/blobs/${sha}`);
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(good);
  });

  it('stores a job’s small panels in their rows as it is submitted, large ones in the blob backend, and serves each whole', async () => {
    const db = coordinator.deps.db;
    const panelsOf = async (jobId: string) => {
      const units = await db.selectFrom('units').select('inputs').where('job_id', '=', jobId).execute();
      const shas = [...new Set(units.flatMap((u) => u.inputs))];
      return db.selectFrom('blobs').select(['sha256', 'size', 'data']).where('sha256', 'in', shas).execute();
    };
    // 8×8 tiles of an 8-deep product: 41 panels of 8×8 (about 300 bytes each).
    const small = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 8, k: 8, n: 320, seed: 11 }, tile: 8 }, verification: 'check' }, 201);
    const smallPanels = await panelsOf(small.id);
    expect(smallPanels).toHaveLength(41);
    for (const p of smallPanels) expect(p.data?.byteLength).toBe(p.size);
    // 16×16 tiles of a 1,024-deep product: panels of 64 KiB, over the bound for a row.
    const large = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 16, k: 1024, n: 32, seed: 12 }, tile: 16 }, verification: 'check' }, 201);
    const largePanels = await panelsOf(large.id);
    expect(largePanels).toHaveLength(3);
    for (const p of largePanels) expect({ size: p.size, data: p.data }).toEqual({ size: 16 * 1024 * 4 + 128, data: null });
    for (const p of [...smallPanels.slice(0, 3), ...largePanels]) {
      const bytes = new Uint8Array(await (await fetch(`${coordinator.url}/api/blobs/${p.sha256}`)).arrayBuffer());
      expect({ size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') }).toEqual({ size: p.size, sha256: p.sha256 });
    }
    for (const job of [small, large]) await dev.json('DELETE', `/api/jobs/${job.id}`);
  });

  it("keeps another account's job out of reach (403) and refuses the anonymous (401)", async () => {
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 8, k: 8, n: 8, seed: 1 } } }, 201);
    const other = await TestClient.signup(coordinator.url, 'other@example.com');
    for (const [method, path] of [['GET', `/api/jobs/${job.id}`], ['GET', `/api/jobs/${job.id}/result`], ['DELETE', `/api/jobs/${job.id}`]] as const) {
      const res = await other.call(method, path);
      expect(res.status, `${method} ${path}`).toBe(403);
    }
    expect((await new TestClient(coordinator.url).call('POST', '/api/jobs', { kind: 'matmul', spec: {} })).status).toBe(401);
    expect((await dev.json('GET', `/api/jobs/${job.id}`)).state).toBe('queued');
  });

  it('cancels a queued job once, and says so the second time', async () => {
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 8, k: 8, n: 8, seed: 2 } } }, 201);
    expect((await dev.json('DELETE', `/api/jobs/${job.id}`)).state).toBe('cancelled');
    const again = await dev.call('DELETE', `/api/jobs/${job.id}`);
    expect(again.status).toBe(409);
    const units = await coordinator.deps.db.selectFrom('units').select('state').where('job_id', '=', job.id).execute();
    expect(units.every((u) => u.state === 'cancelled')).toBe(true);
  });
});
