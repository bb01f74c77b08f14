import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.ts';
import { startCoordinator, type Coordinator } from '../../server/coordinator.ts';
import { openStore } from '../../server/db/index.ts';
import { passTurns, takeTurn } from '../../server/db/turns.ts';
import { Signals, type Signal } from '../../server/nodes/signals.ts';
import { TestClient } from '../helpers/client.ts';
import { eventually } from '../helpers/coordinator.ts';
import { RawNode } from '../helpers/raw-node.ts';
import { freshPostgresUrl, storeKinds } from '../helpers/stores.ts';

describe.each(storeKinds)('chores done once across coordinators (%s)', (store) => {
  it('a turn is one holder’s until it lapses or is passed', async () => {
    const db = await openStore({ dataDir: mkdtempSync(join(tmpdir(), 'supernet-turns-')), databaseUrl: store === 'postgres' ? await freshPostgresUrl() : null });
    try {
      expect(await takeTurn(db, 'sweep', 'a', 400)).toBe(true);
      expect(await takeTurn(db, 'sweep', 'b', 400)).toBe(false); // a holds it
      expect(await takeTurn(db, 'market tick', 'b', 400)).toBe(true); // chores are separate
      expect(await takeTurn(db, 'sweep', 'a', 400)).toBe(true); // the holder renews
      // a stops renewing (killed): b takes the sweep once a's hold has passed.
      await eventually(() => takeTurn(db, 'sweep', 'b', 60_000), 'the sweep taken over', 10_000, 100);
      expect(await takeTurn(db, 'sweep', 'a', 400)).toBe(false);
      await passTurns(db, 'b'); // b stops cleanly: a takes both at once
      expect(await takeTurn(db, 'sweep', 'a', 400)).toBe(true);
      expect(await takeTurn(db, 'market tick', 'a', 400)).toBe(true);
    } finally {
      await db.destroy();
    }
  });
});

describe('behind a load balancer', () => {
  it('takes each node’s network from X-Forwarded-For when the balancer is trusted, and from the socket otherwise', async () => {
    const { testCoordinator } = await import('../helpers/coordinator.ts');
    for (const [trusted, want] of [['127.0.0.1', ['203.0.113.0/24', '198.51.100.0/24']], ['', [null, null]]] as const) {
      const coordinator = await testCoordinator('pglite', trusted ? { SUPERNET_TRUSTED_PROXIES: trusted } : {});
      try {
        const seen: (string | null)[] = [];
        for (const address of ['203.0.113.7', '198.51.100.20']) {
          const ws = new (await import('ws')).default(coordinator.url.replace('http', 'ws') + '/api/nodes/ws', { headers: { 'x-forwarded-for': address }, localAddress: '127.0.0.1' });
          await new Promise((r) => ws.once('open', r));
          ws.send(JSON.stringify({ type: 'hello', protocol: 1, capabilities: { adapter: { vendor: 't', architecture: 'cpu', device: 'd', description: 'x' }, features: [], gflops: 1, kinds: ['matmul'] } }));
          const welcome = JSON.parse(String(await new Promise((r) => ws.once('message', r)))) as { nodeId: string };
          seen.push((await coordinator.deps.db.selectFrom('nodes').select('prefix').where('id', '=', welcome.nodeId).executeTakeFirstOrThrow()).prefix);
          ws.close();
        }
        expect(seen).toEqual(want);
      } finally {
        await coordinator.close();
      }
    }
  });
});

// LISTEN/NOTIFY needs a server: PostgreSQL only.
describe.runIf(process.env.TEST_DATABASE_URL)('coordinators on one PostgreSQL tell each other', () => {
  const coordinators: Coordinator[] = [];
  const closers: (() => unknown)[] = [];
  afterAll(async () => {
    for (const close of closers) await close();
    for (const c of coordinators) await c.close();
  });

  it('signals reach every other process, not the sender, coalesced', async () => {
    const url = await freshPostgresUrl();
    const [a, b] = [new Signals(url), new Signals(url)];
    closers.push(() => a.close(), () => b.close());
    await Promise.all([a.start(), b.start()]);
    const heardByA: Signal[] = [];
    const heardByB: Signal[] = [];
    a.on((s) => heardByA.push(s));
    b.on((s) => heardByB.push(s));
    for (let i = 0; i < 20; i++) a.work();
    a.cancel([{ id: 'x', nodeId: 'n' }], 'the unit was decided');
    await eventually(async () => heardByB.some((s) => s.type === 'work') && heardByB.some((s) => s.type === 'cancel'), 'B hears both', 10_000, 50);
    expect(heardByB.filter((s) => s.type === 'work')).toHaveLength(1); // 20 calls in one gap: one notification
    expect(heardByB.find((s) => s.type === 'cancel')).toEqual({ type: 'cancel', attempts: [{ id: 'x', nodeId: 'n' }], reason: 'the unit was decided' });
    // The sender acted on its own cancel itself, and does not hear its own notifications.
    expect(heardByA).toEqual([{ type: 'cancel', attempts: [{ id: 'x', nodeId: 'n' }], reason: 'the unit was decided' }]);
  });

  it('a job cancelled on one coordinator stops the nodes working on it through another', async () => {
    const databaseUrl = await freshPostgresUrl();
    const start = async () => {
      const c = await startCoordinator(loadConfig({ PORT: '0', DATABASE_URL: databaseUrl, SUPERNET_DATA: mkdtempSync(join(tmpdir(), 'supernet-signals-')) }));
      coordinators.push(c);
      return c;
    };
    const [one, two] = [await start(), await start()];
    const dev = await TestClient.signup(one.url, 'dev@signals.test');
    await dev.useNewKey();
    const worker = await TestClient.signup(two.url, 'node@signals.test');
    const node = await RawNode.connect(two.url, await worker.useNewKey());
    closers.push(() => node.close());
    await node.hello();
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 32, k: 8, n: 32, seed: 5 }, tile: 16 }, verification: 'check' }, 201);
    const lease = await node.lease(); // from coordinator two, of a job made on one
    expect(lease.unit.jobId).toBe(job.id);
    await dev.json('DELETE', `/api/jobs/${job.id}`);
    const cancel = await node.next('cancel', 10_000);
    expect(cancel).toMatchObject({ attemptId: lease.attemptId, reason: 'the job was cancelled' });
  });
});
