import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Supernet, SupernetError } from '../../server/api/client.ts';
import { operations } from '../../server/api/openapi.ts';
import type { Coordinator } from '../../server/coordinator.ts';
import { parseNpy } from '../../shaders/npy.ts';
import { randomMatrix } from '../../workloads/matmul/random.ts';
import { encodeNpy } from '../../shaders/npy.ts';
import { TestClient } from '../helpers/client.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { expectClose } from '../helpers/matrices.ts';
import { matmulReference } from '../../workloads/matmul/reference.ts';
import { RawNode } from '../helpers/raw-node.ts';

/** The calls DESIGN.md's API table promises (../shared/DESIGN.md, "The public HTTP API"). */
const designCalls = [
  'GET /api/health', 'POST /api/auth/signup', 'POST /api/auth/login', 'POST /api/auth/logout', 'GET /api/me',
  'POST /api/keys', 'GET /api/keys', 'DELETE /api/keys/{id}', 'GET /api/workloads', 'PUT /api/blobs', 'GET /api/blobs/{sha256}',
  'POST /api/jobs', 'GET /api/jobs', 'GET /api/jobs/{id}', 'GET /api/jobs/{id}/events', 'GET /api/jobs/{id}/result', 'DELETE /api/jobs/{id}',
  'GET /api/ledger/transfers', 'POST /api/transfers', 'GET /api/market', 'GET /api/stats', 'GET /api/nodes/ws', 'GET /metrics',
];

describe('the OpenAPI document and the typed client', () => {
  let coordinator: Coordinator;
  beforeAll(async () => {
    coordinator = await testCoordinator('pglite');
  });
  afterAll(async () => {
    await coordinator?.close();
  });

  it('is valid OpenAPI 3.1, lists every call of DESIGN.md and every API route the server has', async () => {
    const doc = await (await fetch(`${coordinator.url}/api/openapi.json`)).json();
    expect(doc.openapi).toBe('3.1.0');
    await SwaggerParser.validate(structuredClone(doc));
    const listed = new Set(Object.entries(doc.paths as Record<string, object>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)));
    for (const call of designCalls) expect(listed, call).toContain(call);
    // Every route registered on the app (but the pages) is in the document: nothing is left out.
    const { createApp } = await import('../../server/app.ts');
    const app = createApp(coordinator.deps);
    const routes = app.routes.filter((r) => r.method !== 'ALL' && !['/docs', '/widget.html', '/*'].includes(r.path)).map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
    for (const route of new Set(routes)) expect(listed, route).toContain(route);
    // The request schemas are the routes' own: a bad submit is refused as the document says.
    expect(doc.paths['/api/jobs'].post.requestBody.content['application/json'].schema.required).toEqual(expect.arrayContaining(['kind']));
    const page = await (await fetch(`${coordinator.url}/docs`)).text();
    for (const op of operations) expect(page).toContain(`id="${op.operationId}"`);
  });

  it('has a client method for each JSON operation, and each reply of a real coordinator fits its schema', async () => {
    const client = new Supernet({ url: coordinator.url });
    for (const op of operations) {
      if (['nodeSocket', 'metrics', 'jobEvents'].includes(op.operationId)) continue;
      expect(typeof (client as unknown as Record<string, unknown>)[op.operationId], op.operationId).toBe('function');
    }
    const dev = await TestClient.signup(coordinator.url, 'client@example.com');
    const api = new Supernet({ url: coordinator.url, key: await dev.useNewKey() });
    expect(await api.health()).toMatchObject({ ok: true });
    expect((await api.me()).email).toBe('client@example.com');
    const key = await api.createKey('second');
    expect((await api.listKeys()).keys.map((k) => k.name)).toContain('second');
    await api.revokeKey(key.id);
    expect((await api.workloads()).workloads.map((w) => w.kind)).toContain('matmul');
    const a = randomMatrix(48, 40, 1), b = randomMatrix(40, 24, 2);
    const [sa, sb] = [await api.putBlob(encodeNpy(a)), await api.putBlob(encodeNpy(b))];
    expect(parseNpy(await api.getBlob(sa.sha256))).toEqual(a);
    const estimate = await api.estimateJob({ kind: 'matmul', spec: { a: sa.sha256, b: sb.sha256, tile: 16 } });
    expect(estimate).toMatchObject({ units: 6, estimate: { flops: 2 * 48 * 40 * 24 }, available: 100_000 });
    expect((await api.listJobs()).jobs).toEqual([]); // an estimate creates nothing
    const job = await api.submitJob({ kind: 'matmul', spec: { a: sa.sha256, b: sb.sha256, tile: 16 } });
    expect(job.units).toBe(6);
    expect(await api.jobUnits(job.id)).toMatchObject({ grid: { rows: 3, cols: 2 }, units: Array(6).fill('pending') });
    // A node works it; the client follows its progress over server-sent events.
    const worker = await TestClient.signup(coordinator.url, 'client-worker@example.com');
    const node = await RawNode.connect(coordinator.url, await worker.useNewKey());
    await node.hello();
    const seen: number[] = [];
    const waiting = api.waitForJob(job.id, { onProgress: (j) => seen.push(j.progress.verified) });
    for (let i = 0; i < 6; i++) {
      const lease = await node.lease();
      await node.submit(lease, await node.compute(lease));
    }
    const done = await waiting;
    node.close();
    expect(done.state).toBe('done');
    expect(seen.at(-1)).toBe(6);
    expect(await api.jobUnits(job.id)).toMatchObject({ units: Array(6).fill('verified'), verification: { method: 'check', executions: 6, valid: 6, invalid: 0 } });
    expectClose(parseNpy(await api.jobResult(job.id)), matmulReference(a, b), 40);
    expect((await api.listJobs()).jobs[0]!.id).toBe(job.id);
    expect((await api.getJob(job.id)).cost.credits).toBeGreaterThan(0);
    expect((await api.transfer({ to: 'client-worker@example.com', amount: 1, idempotencyKey: 'k1' })).applied).toBe(true);
    expect((await api.transfers({ limit: 5 })).transfers.length).toBeGreaterThan(0);
    expect((await api.market()).price).toBeGreaterThan(0);
    expect((await api.stats()).unitsVerified).toBe(6);
    expect((await api.leaderboard()).contributors[0]!.unitsVerified).toBe(6);
    const other = await api.submitJob({ kind: 'matmul', spec: { random: { m: 8, k: 8, n: 8, seed: 1 } } });
    expect((await api.cancelJob(other.id)).state).toBe('cancelled');
    // Errors arrive as SupernetError with the status and the server's one-line reason.
    const refused = await api.submitJob({ kind: 'matmul', spec: { random: { m: 8, k: 8, n: 8, seed: 1 } }, budget: 1e9 }).catch((e) => e);
    expect(refused).toBeInstanceOf(SupernetError);
    expect(refused).toMatchObject({ status: 402, code: 'insufficient_credits', message: expect.stringMatching(/Not enough credits/) });
    await expect(new Supernet({ url: coordinator.url, key: 'sn_wrong' }).me()).rejects.toMatchObject({ status: 401 });
  });
});
