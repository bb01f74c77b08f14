import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { marketInputs } from '../../server/market/price.ts';
import { TestClient } from '../helpers/client.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { RawNode } from '../helpers/raw-node.ts';

/**
 * A claim's cost and a result batch's must not grow with the history: the rows they read are
 * counted here, by the store's own statistics, not timed. PGlite only: its statistics are its own process's, read
 * as soon as they are flushed; a PostgreSQL server's other backends flush theirs when idle,
 * up to ten seconds later. The plans are PostgreSQL's planner's on both.
 */
describe('claims and result batches read a bounded number of rows however long the history', () => {
  let coordinator: Coordinator;
  const nodes: RawNode[] = [];
  afterEach(async () => {
    nodes.splice(0).forEach((n) => n.close());
    await coordinator?.close();
  });

  /** Index entries and rows read from these tables since the store started (flushed first). */
  const rowsRead = async (...tables: string[]) => {
    const db = coordinator.deps.db;
    await sql`select pg_stat_force_next_flush()`.execute(db);
    await sql`select pg_stat_clear_snapshot()`.execute(db);
    const { rows } = await sql<{ n: number }>`
      select (coalesce(sum(idx_tup_read), 0) + (select coalesce(sum(seq_tup_read), 0) from pg_stat_user_tables where relname = any(${tables}::text[])))::float8 as n
      from pg_stat_user_indexes where relname = any(${tables}::text[])`.execute(db);
    return rows[0]!.n;
  };

  /** A job of 80 × 80 tiles of 8 (6,400 units), and the key its nodes connect with. */
  const bigJob = async (name: string, env: Record<string, string> = {}) => {
    // The market's tick sums the whole queue's demand every 10 s: not a claim's cost, kept out of the count.
    coordinator = await testCoordinator('pglite', { SUPERNET_MARKET_MS: '3600000', ...env });
    const dev = await TestClient.signup(coordinator.url, `dev-${name}@example.com`);
    await dev.useNewKey();
    const job = (await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 640, k: 8, n: 640, seed: 5 }, tile: 8 }, verification: 'check' }, 201)) as { id: string };
    // One contributor's account for all the nodes: a signup hashes a password, and 64 of them took
    // a minute on a loaded machine; fresh units of a check job go to any node of any account.
    const key = await (await TestClient.signup(coordinator.url, `${name}-nodes@example.com`)).useNewKey();
    return { job, key };
  };

  /** 32 nodes, connected. */
  const crowd = async (key: string) => {
    const members: RawNode[] = [];
    for (let i = 0; i < 32; i++) {
      const node = await RawNode.connect(coordinator.url, key);
      nodes.push(node);
      members.push(node);
      await node.hello();
    }
    return members;
  };

  /** History, written directly: units idx ∈ [from, to) verified, each with its attempt (any stored blob serves as their result here). */
  const history = async (jobId: string, from: number, to: number) => {
    const db = coordinator.deps.db;
    await sql`insert into attempts (unit_id, node_id, holder, token, state, deadline, created_at, returned_at)
      select u.id, ${(await db.selectFrom('nodes').select('id').executeTakeFirstOrThrow()).id}::uuid, 'history:' || u.idx, 'x', 'valid', now(), now(), now()
      from units u where u.job_id = ${jobId} and u.idx >= ${from} and u.idx < ${to}`.execute(db);
    await sql`update units set state = 'verified', verified_at = now(), result_sha256 = inputs->>0 where job_id = ${jobId} and idx >= ${from} and idx < ${to}`.execute(db);
    await sql`update jobs set claim_from = 0 where id = ${jobId}`.execute(db);
  };

  it('a claim round reads the units it walks and the nodes\' leases, not the history nor the queue behind', async () => {
    const { job, key } = await bigJob('flat');
    const db = coordinator.deps.db;
    // 32 nodes asking for two units each at once (as many as a new node may hold): one claim round
    // walks ~80 units, as the bench's rounds do. A new crowd each time (the first keeps its leases in flight).
    const roundReads = async (members: RawNode[]) => {
      await sql`analyze`.execute(db); // the statistics the store's maintenance keeps (PGlitePool.maintain)
      const before = await rowsRead('attempts');
      for (const node of members) node.send({ type: 'request', slots: 2 });
      await Promise.all(members.map(async (node) => {
        for (let k = 0; k < 2; k++) await node.next('lease');
      }));
      return (await rowsRead('attempts')) - before;
    };
    const [first, second] = [await crowd(key), await crowd(key)];
    // Trusted nodes: no known-answer draws (a fifth of a new node's claims, each probing the last
    // 200 verified units: bounded, but random), so each round's reads are the claim's own.
    await db.updateTable('nodes').set({ streak: 100 }).execute();
    await roundReads(first); // leases in flight, which the next round's walk passes over
    // 3,000 units of history and 3,000 still queued behind them; the leases just made stay in flight.
    await history(job.id, 400, 3400);
    const later = await roundReads(second);
    // A round probes the units it walks (those in flight and those it returns) and each node's
    // leases: 130 to 196 rows here. Planned as joins, the claim's checks read the history (with
    // 6,000 units run: 6,013 rows for the walk's live-replica check, server/nodes/queue.ts, and
    // 2,244 for each node's leases read through the index of all leases in flight, server/nodes/leases.ts).
    expect(later).toBeLessThan(600);
  }, 120_000);

  it('a result batch reads its own units\' rows and pays, not the units queued nor the ledger\'s history', async () => {
    // No ANALYZE by the store's maintenance during the test: the statistics stay those taken below.
    const { job, key } = await bigJob('flat-results', { SUPERNET_MAINTENANCE_MS: '3600000' });
    const db = coordinator.deps.db;
    const members = await crowd(key);
    await db.updateTable('nodes').set({ streak: 100 }).execute();
    // Statistics taken while the store was new, then 6,000 units verified with their ledger
    // history (6,000 transfers): a store whose tables grew since their last ANALYZE (PGlite's
    // maintenance takes one every few seconds; a PostgreSQL server's autovacuum, within minutes),
    // its planner's estimates stale. And PostgreSQL's default cost of a random read (4, for
    // spinning disks), which a server keeps unless told (server/db/index.ts tells its connections
    // 1.1): the plan must hold without either.
    await sql`set random_page_cost = 4`.execute(db);
    await sql`analyze`.execute(db);
    await history(job.id, 400, 6400);
    await sql`
      insert into transfers (seq, id, debit_account_id, credit_account_id, amount, kind, code, job_id, created_at, prev_hash, hash)
      select 1000000 + g, 'history:' || g, 'treasury', 'escrow:' || ${job.id}, 1, 'single', 'history', ${job.id}::uuid, now(), '', ''
      from generate_series(1, 6000) g`.execute(db);
    const leases = await Promise.all(members.map(async (node) => {
      node.send({ type: 'request', slots: 2 });
      return [await node.next('lease'), await node.next('lease')].map((lease) => ({ node, lease }));
    }));
    const answers = await Promise.all(leases.flat().map(async ({ node, lease }) => ({ node, lease, output: await node.compute(lease) })));
    const before = await rowsRead('units', 'transfers');
    // All at once: what comes together is judged in one batch (or a few).
    const acks = await Promise.all(answers.map(({ node, lease, output }) => node.submitInline(lease, output)));
    expect(acks.map((a) => a.status)).toEqual(answers.map(() => 'accepted'));
    const read = (await rowsRead('units', 'transfers')) - before;
    // The batch probes its 64 units and their pays by key: 320 rows. Planned as joins on stale
    // statistics, the pays' settlement hashed the whole units table and the transfers: 6,451 rows
    // (server/ledger/payments.ts, settlePays).
    expect(read).toBeLessThan(1500);
  }, 120_000);

  it('the market\'s demand is read from the open jobs\' rows, not from the queue', async () => {
    const { job, key } = await bigJob('flat-market');
    const db = coordinator.deps.db;
    const node = await RawNode.connect(coordinator.url, key); // the history's attempts name a node
    nodes.push(node);
    await node.hello();
    const flops = (await db.selectFrom('units').select((eb) => eb.fn.sum<number>('flops').as('f')).where('job_id', '=', job.id).executeTakeFirstOrThrow()).f;
    expect((await marketInputs(db, 60_000)).demandFlops).toBeCloseTo(flops, 0);
    // 6,000 of its 6,400 units verified (written directly, with the job's count).
    await history(job.id, 400, 6400);
    await db.updateTable('jobs').set({ units_verified: 6000 }).where('id', '=', job.id).execute();
    await sql`analyze`.execute(db);
    const before = await rowsRead('units', 'attempts');
    const { demandFlops } = await marketInputs(db, 60_000);
    // The job's mean unit × the 400 left (its tiles are all alike).
    expect(demandFlops).toBeCloseTo((flops * 400) / 6400, 0);
    // Summed over every pending unit and its attempts, a tick read all 6,400 units (and again for each GET /api/market).
    expect((await rowsRead('units', 'attempts')) - before).toBe(0);
  });
});
