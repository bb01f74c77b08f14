import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { TestClient } from '../helpers/client.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { RawNode } from '../helpers/raw-node.ts';

/**
 * A claim's cost must not grow with the history: the rows it reads are counted here, by the
 * store's own statistics, not timed. PGlite only: its statistics are its own process's, read
 * as soon as they are flushed; a PostgreSQL server's other backends flush theirs when idle,
 * up to ten seconds later. The plans are PostgreSQL's planner's on both.
 */
describe('claims read a bounded number of rows however long the history', () => {
  let coordinator: Coordinator;
  const nodes: RawNode[] = [];
  afterEach(async () => {
    nodes.splice(0).forEach((n) => n.close());
    await coordinator?.close();
  });

  /** Index entries and rows read from attempts since the store started (flushed first). */
  const attemptsRead = async () => {
    const db = coordinator.deps.db;
    await sql`select pg_stat_force_next_flush()`.execute(db);
    await sql`select pg_stat_clear_snapshot()`.execute(db);
    const { rows } = await sql<{ n: number }>`
      select (coalesce(sum(idx_tup_read), 0) + (select coalesce(sum(seq_tup_read), 0) from pg_stat_user_tables where relname = 'attempts'))::float8 as n
      from pg_stat_user_indexes where relname = 'attempts'`.execute(db);
    return rows[0]!.n;
  };

  it('a claim round reads the units it walks and the nodes\' leases, not the history nor the queue behind', async () => {
    // The market's tick sums the whole queue's demand every 10 s: not a claim's cost, kept out of the count.
    coordinator = await testCoordinator('pglite', { SUPERNET_MARKET_MS: '3600000' });
    const dev = await TestClient.signup(coordinator.url, 'dev-flat@example.com');
    await dev.useNewKey();
    // 80 × 80 tiles of 8: 6,400 units, one job.
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 640, k: 8, n: 640, seed: 5 }, tile: 8 }, verification: 'check' }, 201);
    // 32 nodes asking for two units each at once (as many as a new node may hold): one claim round
    // walks ~80 units, as the bench's rounds do. A new crowd each time (the first keeps its leases in flight).
    // One contributor's account for all of them: a signup hashes a password, and 64 of them took
    // a minute on a loaded machine; fresh units of a check job go to any node of any account.
    const key = await (await TestClient.signup(coordinator.url, 'flat-nodes@example.com')).useNewKey();
    const crowd = async () => {
      const members: RawNode[] = [];
      for (let i = 0; i < 32; i++) {
        const node = await RawNode.connect(coordinator.url, key);
        nodes.push(node);
        members.push(node);
        await node.hello();
      }
      return members;
    };
    const db = coordinator.deps.db;
    const roundReads = async (members: RawNode[]) => {
      await sql`analyze`.execute(db); // the statistics the store's maintenance keeps (PGlitePool.maintain)
      const before = await attemptsRead();
      for (const node of members) node.send({ type: 'request', slots: 2 });
      await Promise.all(members.map(async (node) => {
        for (let k = 0; k < 2; k++) await node.next('lease');
      }));
      return (await attemptsRead()) - before;
    };
    const [first, second] = [await crowd(), await crowd()];
    // Trusted nodes: no known-answer draws (a fifth of a new node's claims, each probing the last
    // 200 verified units: bounded, but random), so each round's reads are the claim's own.
    await db.updateTable('nodes').set({ streak: 100 }).execute();
    await roundReads(first); // leases in flight, which the next round's walk passes over
    // The history, written directly: 3,000 units verified, each with its attempt (any stored blob
    // serves as their result here), and 3,000 still queued behind them; the leases just made stay in flight.
    await sql`insert into attempts (unit_id, node_id, holder, token, state, deadline, created_at, returned_at)
      select u.id, ${(await db.selectFrom('nodes').select('id').executeTakeFirstOrThrow()).id}::uuid, 'history:' || u.idx, 'x', 'valid', now(), now(), now()
      from units u where u.job_id = ${job.id} and u.idx >= 400 and u.idx < 3400`.execute(db);
    await sql`update units set state = 'verified', verified_at = now(), result_sha256 = inputs->>0 where job_id = ${job.id} and idx >= 400 and idx < 3400`.execute(db);
    await sql`update jobs set claim_from = 0 where id = ${job.id}`.execute(db);
    const later = await roundReads(second);
    // A round probes the units it walks (those in flight and those it returns) and each node's
    // leases: 130 to 196 rows here. Planned as joins, the claim's checks read the history (with
    // 6,000 units run: 6,013 rows for the walk's live-replica check, server/nodes/queue.ts, and
    // 2,244 for each node's leases read through the index of all leases in flight, server/nodes/leases.ts).
    expect(later).toBeLessThan(600);
  }, 120_000);
});
