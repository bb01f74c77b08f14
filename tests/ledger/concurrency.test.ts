import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { inTransaction } from '../../server/db/index.ts';
import { auditLedger, escrowAccount, expirePending, resolve, transfer, transferAll, userAccount } from '../../server/ledger/ledger.ts';
import { escrowJob } from '../../server/ledger/payments.ts';
import { TestClient } from '../helpers/client.ts';
import { testCoordinator } from '../helpers/coordinator.ts';

/** Races show only on PostgreSQL: PGlite serves one connection at a time. */
describe.skipIf(!process.env.TEST_DATABASE_URL)('ledger under concurrency (postgres)', () => {
  let coordinator: Coordinator;
  beforeAll(async () => {
    coordinator = await testCoordinator('postgres', { SUPERNET_STARTER_GRANT: '100' });
  });
  afterAll(async () => {
    await coordinator?.close();
  });

  it('1,000 concurrent transfers among 20 accounts, each sent twice with its key: each applies at most once, none overdraws', async () => {
    const clients: TestClient[] = [];
    for (let i = 0; i < 20; i += 5) {
      clients.push(...(await Promise.all([0, 1, 2, 3, 4].map((j) => TestClient.signup(coordinator.url, `c${i + j}@example.com`)))));
    }
    await Promise.all(clients.map((c) => c.useNewKey()));
    const rand = (n: number) => Math.floor(Math.random() * n);
    const sends = Array.from({ length: 1000 }, (_, i) => {
      const from = rand(20);
      const to = (from + 1 + rand(19)) % 20;
      return { from, to, amount: 1 + rand(30), key: `k${i}` };
    });
    const statuses = new Map<string, number[]>();
    const queue = sends.flatMap((s) => [s, s]).sort(() => Math.random() - 0.5);
    const worker = async () => {
      for (let s = queue.pop(); s; s = queue.pop()) {
        const res = await clients[s.from]!.call('POST', '/api/transfers', { to: clients[s.to]!.accountId, amount: s.amount, idempotencyKey: s.key });
        await res.body?.cancel();
        statuses.set(s.key, [...(statuses.get(s.key) ?? []), res.status]);
      }
    };
    await Promise.all(Array.from({ length: 40 }, worker));

    const { db } = coordinator.deps;
    const rows = await db.selectFrom('transfers').select(['id', 'debit_account_id', 'credit_account_id', 'amount']).where('code', '=', 'transfer').execute();
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(byId.size).toBe(rows.length); // ids unique
    for (const s of sends) {
      const got = statuses.get(s.key)!.sort();
      expect(got.every((st) => [200, 201, 402].includes(st))).toBe(true);
      const applied = byId.has(`xfer:${clients[s.from]!.accountId}:${s.key}`);
      expect(got.filter((st) => st === 201).length).toBe(applied ? 1 : 0); // created once at most
    }
    expect(rows.length).toBeGreaterThan(300); // most go through: the test is not all refusals

    // Every wallet = its grant + what came in − what went out; none below zero.
    const wallets = await db.selectFrom('ledger_accounts').selectAll().where('kind', '=', 'user').execute();
    for (const c of clients) {
      const w = wallets.find((a) => a.id === userAccount(c.accountId))!;
      const sum = rows.reduce((s, r) => s + (r.credit_account_id === w.id ? r.amount : 0) - (r.debit_account_id === w.id ? r.amount : 0), 0);
      expect(w.credits_posted - w.debits_posted).toBe(100_000_000 + sum);
      expect(w.credits_posted - w.debits_posted).toBeGreaterThanOrEqual(0);
    }
    expect(await auditLedger(db)).toMatchObject({ mismatched: [], negative: [], resolvedTwice: [], total: 0, supply: 20 * 100_000_000 });
  }, 180_000);

  it('100 races of settle vs refund vs expiry on one escrow: exactly one wins each time', async () => {
    const { db } = coordinator.deps;
    const owner = await TestClient.signup(coordinator.url, 'owner@example.com');
    const worker = await TestClient.signup(coordinator.url, 'worker@example.com');
    const wins = { post: 0, refund: 0, expired: 0 };
    for (let race = 0; race < 100; race++) {
      const jobId = randomUUID();
      const pendingId = `pay:${randomUUID()}`;
      await inTransaction(db, async (trx) => {
        await trx.insertInto('jobs').values({ id: jobId, account_id: owner.accountId, kind: 'matmul', spec: '{}', plan: '{}', state: 'running', replication: 1, units_total: 1, flops: 1 }).execute();
        await escrowJob(trx, { id: jobId, account_id: owner.accountId }, 1000);
        await transfer(trx, { id: pendingId, debit: escrowAccount(jobId), credit: userAccount(worker.accountId), amount: 700, code: 'pay', pending: true, jobId, timeoutAt: new Date(Date.now() - 1) });
      });
      const settle = inTransaction(db, (trx) => resolve(trx, pendingId, 'post', 'verified'));
      const refund = inTransaction(db, async (trx) => {
        const r = await resolve(trx, pendingId, 'void', 'refund');
        await transferAll(trx, { id: `refund:${jobId}`, debit: escrowAccount(jobId), credit: userAccount(owner.accountId), code: 'refund', jobId });
        return r;
      });
      const expiry = inTransaction(db, (trx) => resolve(trx, pendingId, 'void', 'expired'));
      const results = await Promise.all([settle, refund, expiry]);
      expect(results.filter((r) => r.applied)).toHaveLength(1);
      const resolutions = await db.selectFrom('transfers').select(['kind', 'code']).where('pending_id', '=', pendingId).execute();
      expect(resolutions).toHaveLength(1);
      const winner = resolutions[0]!.code as keyof typeof wins;
      wins[winner === ('verified' as string) ? 'post' : winner]++;
      // Whoever won, the escrow ends empty or holds exactly what is owed.
      const escrow = await db.selectFrom('ledger_accounts').selectAll().where('id', '=', escrowAccount(jobId)).executeTakeFirstOrThrow();
      expect(escrow.debits_pending).toBe(0);
      // A late refund after a post: what is left goes home too.
      await inTransaction(db, (trx) => transferAll(trx, { id: `refund:${jobId}`, debit: escrowAccount(jobId), credit: userAccount(owner.accountId), code: 'refund', jobId }));
    }
    expect(wins.post + wins.refund + wins.expired).toBe(100);
    console.log('settle vs refund vs expiry, winners of 100 races:', wins);
    // The sweeper's expiry finds nothing left to expire: every race was decided once.
    expect(await expirePending(db, new Date(), async () => expect.unreachable())).toBe(0);
    const audit = await auditLedger(db);
    expect(audit).toMatchObject({ mismatched: [], negative: [], resolvedTwice: [] });
    const w = await db.selectFrom('ledger_accounts').selectAll().where('id', '=', userAccount(worker.accountId)).executeTakeFirstOrThrow();
    expect(w.credits_posted - w.debits_posted).toBe(100_000_000 + wins.post * 700);
    const o = await db.selectFrom('ledger_accounts').selectAll().where('id', '=', userAccount(owner.accountId)).executeTakeFirstOrThrow();
    expect(o.credits_posted - o.debits_posted).toBe(100_000_000 - wins.post * 700);
  }, 180_000);
});
