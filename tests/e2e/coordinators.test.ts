import { copyFileSync, mkdtempSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { NodeRuntime } from '../../server/agent/runtime.ts';
import { openStore, type Db } from '../../server/db/index.ts';
import { keyFile, loadOrCreateKey, publicPem, verifyLedgerDb } from '../../server/ledger/checkpoint.ts';
import { reconcileLedger } from '../../server/ledger/payments.ts';
import { matmulReference } from '../../workloads/matmul/reference.ts';
import { encodeNpy, parseNpy } from '../../shaders/npy.ts';
import { TestClient } from '../helpers/client.ts';
import { eventually, freePort, spawnCli, stopChild, waitForOutput } from '../helpers/coordinator.ts';
import { expectClose, randomSpecReference } from '../helpers/matrices.ts';
import { startS3, type TestS3 } from '../helpers/s3.ts';
import { freshPostgresUrl } from '../helpers/stores.ts';

type Child = ReturnType<typeof spawnCli>;

/**
 * A TCP load balancer as a cloud's would be: each new connection goes to the next coordinator
 * that is up; when one dies, the connections through it die with it, and their clients
 * reconnect to the others.
 */
function loadBalancer(ports: number[], up: (i: number) => boolean): Promise<{ server: Server; port: number }> {
  let next = 0;
  const server = createServer((client: Socket) => {
    const live = ports.map((_, i) => i).filter(up);
    if (!live.length) return client.destroy();
    const target = live[next++ % live.length]!;
    const upstream = connect(ports[target]!, '127.0.0.1');
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port })));
}

// Coordinators share work only through a server store: PostgreSQL only (CI starts one).
describe.runIf(process.env.TEST_DATABASE_URL)('three coordinators on one PostgreSQL and one S3 bucket', () => {
  const children: Child[] = [];
  const runtimes: NodeRuntime[] = [];
  let s3: TestS3 | undefined;
  let lb: Server | undefined;
  let db: Db | undefined;
  afterAll(async () => {
    runtimes.forEach((r) => r.stop());
    for (const child of children) await stopChild(child);
    lb?.close();
    await s3?.close();
    await db?.destroy();
  });

  it('finish every job with 30 agents when one coordinator is killed mid-run: no unit verified twice, the ledger whole', async () => {
    const databaseUrl = await freshPostgresUrl();
    s3 = await startS3();
    // Separate data directories; one ledger key, as an operator copies it to each machine.
    const dirs = [0, 1, 2].map(() => mkdtempSync(join(tmpdir(), 'supernet-three-')));
    const key = loadOrCreateKey(dirs[0]!);
    for (const dir of dirs.slice(1)) copyFileSync(join(dirs[0]!, keyFile), join(dir, keyFile));
    const ports = await Promise.all(dirs.map(() => freePort()));
    for (const [i, dir] of dirs.entries()) {
      // Leases of a killed coordinator's nodes lapse after this if the nodes do not come back.
      children.push(spawnCli(['serve'], { PORT: String(ports[i]), DATABASE_URL: databaseUrl, SUPERNET_DATA: dir, SUPERNET_LEASE_TTL_MS: '6000', ...s3.env }));
    }
    await Promise.all(children.map((c) => waitForOutput(c, /Supernet coordinator on/, 60_000)));
    const killed = 2;
    const up = (i: number) => children[i]!.exitCode === null && children[i]!.signalCode === null;
    const balancer = await loadBalancer(ports, up);
    lb = balancer.server;
    const url = `http://127.0.0.1:${balancer.port}`;
    const direct = `http://127.0.0.1:${ports[0]}`; // the developer's own view, never killed

    const dev = await TestClient.signup(direct, 'dev@three.test');
    await dev.useNewKey();
    const specs = [
      { m: 96, k: 24, n: 96, seed: 31, verification: 'replicate' },
      { m: 96, k: 24, n: 96, seed: 32, verification: 'check' },
      { m: 80, k: 16, n: 80, seed: 33, verification: 'replicate' },
    ];
    const jobs: string[] = [];
    for (const { verification, ...random } of specs) {
      jobs.push((await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random, tile: 16 }, verification }, 201)).id);
    }

    // 30 agents (the real node runtime over real WebSockets, the CPU reference for a GPU),
    // each its own account, all through the load balancer; accounts made four at a time.
    const keys: string[] = [];
    for (let i = 0; i < 30; i += 6) {
      keys.push(...(await Promise.all([0, 1, 2, 3, 4, 5].map(async (j) => (await TestClient.signup(direct, `agent${i + j}@three.test`)).useNewKey()))));
    }
    for (const [i, agentKey] of keys.entries()) {
      const runtime = new NodeRuntime({
        url,
        key: agentKey,
        name: `agent-${i}`,
        slots: 2,
        capabilities: { adapter: { vendor: 'test', architecture: 'cpu', device: 'reference', description: 'CPU reference agent' }, features: [], gflops: 1, kinds: ['matmul'] },
        connect: (wsUrl, headers) => new WebSocket(wsUrl, { headers }) as unknown as globalThis.WebSocket,
        async execute(_unit, [a, b]) {
          await new Promise((r) => setTimeout(r, 20 + Math.random() * 40)); // some time on the "GPU"
          return encodeNpy(matmulReference(parseNpy(a!), parseNpy(b!)));
        },
      });
      runtimes.push(runtime);
      runtime.start();
    }

    db = await openStore({ dataDir: dirs[0]!, databaseUrl });
    const verified = async () => (await db!.selectFrom('units').select((eb) => eb.fn.countAll<number>().as('n')).where('job_id', 'in', jobs).where('state', '=', 'verified').executeTakeFirstOrThrow()).n;
    const total = (await db.selectFrom('units').select((eb) => eb.fn.countAll<number>().as('n')).where('job_id', 'in', jobs).executeTakeFirstOrThrow()).n;
    // Killed (SIGKILL: no goodbye, leases in flight) once a third of the units are verified.
    await eventually(async () => (await verified()) >= total / 3, 'a third of the units verified', 120_000);
    await stopChild(children[killed]!, 'SIGKILL');
    const atKill = await verified();
    expect(atKill).toBeLessThan(total);

    for (const id of jobs) expect(await dev.waitForJob(id, 180_000)).toMatchObject({ state: 'done' });
    for (const [j, { verification: _, ...spec }] of specs.entries()) {
      const res = await dev.call('GET', `/api/jobs/${jobs[j]}/result`);
      expectClose(parseNpy(new Uint8Array(await res.arrayBuffer())), randomSpecReference(spec.m, spec.k, spec.n, spec.seed), spec.k);
    }

    // No unit verified twice: each job counted each unit once, and no attempt was paid twice.
    const rows = await db.selectFrom('jobs').select(['id', 'units_verified', 'units_total']).where('id', 'in', jobs).execute();
    for (const r of rows) expect(r.units_verified).toBe(r.units_total);
    const posts = await db.selectFrom('transfers').select(['attempt_id']).where('kind', '=', 'post').where('attempt_id', 'is not', null).execute();
    expect(new Set(posts.map((p) => p.attempt_id)).size).toBe(posts.length);
    // Replicas came from distinct accounts.
    const valid = await db.selectFrom('attempts').innerJoin('units', 'units.id', 'attempts.unit_id').select(['attempts.unit_id', 'attempts.holder']).where('units.job_id', 'in', jobs).where('attempts.state', '=', 'valid').execute();
    const holders = new Map<string, string[]>();
    for (const v of valid) holders.set(v.unit_id, [...(holders.get(v.unit_id) ?? []), v.holder]);
    for (const list of holders.values()) expect(new Set(list).size).toBe(list.length);
    // The ledger: balanced, chained, signed by the coordinators' key.
    await reconcileLedger(db);
    const verdict = await verifyLedgerDb(db, [publicPem(key)]);
    expect(verdict.problems).toEqual([]);
    expect(verdict.ok).toBe(true);
    // The killed coordinator's nodes carried on through the others.
    expect(runtimes.reduce((n, r) => n + r.stats.reconnects, 0)).toBeGreaterThanOrEqual(5);
    expect(runtimes.filter((r) => r.stats.unitsDone > 0).length).toBeGreaterThanOrEqual(20);
  }, 300_000);
});
