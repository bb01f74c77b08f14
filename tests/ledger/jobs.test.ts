import { afterEach, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { inTransaction } from '../../server/db/index.ts';
import { auditLedger, escrowAccount, transfer, userAccount } from '../../server/ledger/ledger.ts';
import { randomUUID } from 'node:crypto';
import { reconcileLedger, reservePays } from '../../server/ledger/payments.ts';
import { payFor } from '../../server/ledger/credit.ts';
import { TestClient } from '../helpers/client.ts';
import { eventually, testCoordinator } from '../helpers/coordinator.ts';
import { RawNode, type Lease } from '../helpers/raw-node.ts';
import { storeKinds } from '../helpers/stores.ts';

const micro = (credits: number) => Math.round(credits * 1e6);

describe.each(storeKinds)('credits for jobs (%s)', (store) => {
  let coordinator: Coordinator;
  const nodes: RawNode[] = [];
  afterEach(async () => {
    nodes.splice(0).forEach((n) => n.close());
    await coordinator?.close();
  });

  async function worker(email: string, claims: { gflops?: number; ask?: number } = {}) {
    const client = await TestClient.signup(coordinator.url, email);
    const node = await RawNode.connect(coordinator.url, await client.useNewKey());
    nodes.push(node);
    await node.hello(claims);
    return { client, node };
  }
  const wallet = async (c: TestClient) => (await c.json('GET', '/api/me')).wallet;

  it('escrows the estimate at the bid, pays each verified attempt from it — the same whatever speed or run time a node claims — and pays no lie', async () => {
    coordinator = await testCoordinator(store);
    const dev = await TestClient.signup(coordinator.url, 'dev@example.com');
    await dev.useNewKey();
    // 4 units of 64×128·128×64 at 1 credit/GFLOP: 1049 µcr each.
    const unitPay = payFor(2 * 64 * 128 * 64, 1e6);
    expect(unitPay).toBe(1049);
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 128, k: 128, n: 128, seed: 3 }, tile: 64 }, bid: 1 }, 201);
    expect(job).toMatchObject({ bid: 1, estimate: { credits: (4 * unitPay) / 1e6 }, escrow: (4 * unitPay) / 1e6 });
    expect(micro((await wallet(dev)).available)).toBe(100_000e6 - 4 * unitPay);

    const boaster = await worker('boaster@example.com', { gflops: 100_000 }); // claims 100 000× the honest node's speed
    const honest = await worker('honest@example.com', { gflops: 1 });
    const liar = await worker('liar@example.com');
    const done = { boaster: 0, honest: 0 };
    const lie = await liar.node.lease();
    const right = await liar.node.compute(lie);
    expect((await liar.node.submit(lie, { ...right, data: right.data.map((v) => v + 0.5) })).status).toBe('refused');
    for (let i = 0; i < 4; i++) {
      const who = i % 2 ? honest : boaster;
      const lease: Lease = await who.node.lease();
      // and claims it ran 100× longer than it did: neither claim enters its pay.
      await who.node.submit(lease, await who.node.compute(lease), lease.token, who === boaster ? 100_000 : 1);
      done[who === boaster ? 'boaster' : 'honest']++;
    }
    expect(await dev.waitForJob(job.id)).toMatchObject({ state: 'done' });

    const [b, h, l, d] = await Promise.all([wallet(boaster.client), wallet(honest.client), wallet(liar.client), wallet(dev)]);
    expect(micro(b.earned)).toBe(done.boaster * unitPay);
    expect(micro(h.earned)).toBe(done.honest * unitPay);
    expect(micro(b.earned) / done.boaster).toBe(micro(h.earned) / done.honest); // exactly, per unit
    expect(micro(b.available)).toBe(100_000e6 + done.boaster * unitPay);
    expect({ earned: l.earned, available: l.available, pendingIn: l.pendingIn }).toEqual({ earned: 0, available: 100_000, pendingIn: 0 }); // the lie earned nothing
    const view = await dev.json('GET', `/api/jobs/${job.id}`);
    expect(view.cost).toMatchObject({ credits: (4 * unitPay) / 1e6, pending: 0, left: 0 });
    expect(micro(d.available)).toBe(100_000e6 - 4 * unitPay);

    const history = await honest.client.json('GET', '/api/ledger/transfers');
    expect(history.transfers.filter((t: { kind: string; code: string }) => t.kind === 'post' && t.code === 'verified')).toHaveLength(done.honest);
    expect(await auditLedger(coordinator.deps.db)).toMatchObject({ mismatched: [], negative: [], resolvedTwice: [] });
  });

  it('holds replicate pays pending until the job ends, then posts the valid ones and returns the unspent escrow', async () => {
    coordinator = await testCoordinator(store);
    const dev = await TestClient.signup(coordinator.url, 'dev@example.com');
    await dev.useNewKey();
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 64, k: 64, n: 64, seed: 4 }, tile: 64 }, verification: 'replicate', bid: 1 }, 201);
    const unitPay = payFor(2 * 64 * 64 * 64, 1e6);
    expect(job.escrow).toBe(Math.ceil(2 * unitPay * 1.25) / 1e6); // two replicas plus 25% headroom
    const w1 = await worker('w1@example.com');
    const w2 = await worker('w2@example.com');
    const l1 = await w1.node.lease();
    expect(micro((await wallet(w1.client)).pendingIn)).toBe(unitPay); // reserved at lease
    await w1.node.submit(l1, await w1.node.compute(l1));
    const l2 = await w2.node.lease();
    await w2.node.submit(l2, await w2.node.compute(l2));
    expect(await dev.waitForJob(job.id)).toMatchObject({ state: 'done' });
    for (const w of [w1, w2]) expect(await wallet(w.client)).toMatchObject({ earned: unitPay / 1e6, pendingIn: 0, available: 100_000 + unitPay / 1e6 });
    // Verification's cost shows: two replicas paid; the headroom came back.
    expect((await dev.json('GET', `/api/jobs/${job.id}`)).cost).toMatchObject({ credits: (2 * unitPay) / 1e6, pending: 0, left: 0 });
    expect(micro((await wallet(dev)).available)).toBe(100_000e6 - 2 * unitPay);
  });

  it('refuses a job the balance cannot escrow (402) and creates nothing; a cancel voids leases in flight and returns the escrow', async () => {
    coordinator = await testCoordinator(store);
    const dev = await TestClient.signup(coordinator.url, 'dev@example.com');
    await dev.useNewKey();
    const res = await dev.call('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 1024, k: 1024, n: 1024, seed: 1 } }, bid: 1e6 });
    expect(res.status).toBe(402);
    expect((await res.json()).error).toMatchObject({ code: 'insufficient_credits', message: expect.stringMatching(/escrows 2,147,484 credits and you have 100,000\.00 credits/) });
    expect((await dev.json('GET', '/api/jobs')).jobs).toHaveLength(0);
    expect((await wallet(dev)).available).toBe(100_000);

    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 128, k: 64, n: 64, seed: 1 }, tile: 64 }, bid: 500 }, 201);
    expect((await wallet(dev)).available).toBeLessThan(100_000);
    // A top-up applies once per key.
    const before = (await wallet(dev)).available;
    for (let i = 0; i < 2; i++) await dev.json('POST', `/api/jobs/${job.id}/budget`, { credits: 1, idempotencyKey: 'more' });
    expect((await wallet(dev)).available).toBeCloseTo(before - 1, 6);
    expect((await dev.json('GET', `/api/jobs/${job.id}`)).cost.escrowed).toBeCloseTo(job.escrow + 1, 6);
    const w = await worker('w@example.com');
    await w.node.lease();
    expect((await wallet(w.client)).pendingIn).toBeGreaterThan(0);
    // A pay no verdict reached by its timeout is voided by the sweeper's round.
    const { db } = coordinator.deps;
    await inTransaction(db, (trx) => transfer(trx, { id: 'pay:stale', debit: escrowAccount(job.id), credit: userAccount(w.client.accountId), amount: 5, code: 'pay', pending: true, jobId: job.id, timeoutAt: new Date(Date.now() - 1) }));
    await reconcileLedger(db);
    expect(await db.selectFrom('transfers').select(['kind', 'code']).where('pending_id', '=', 'pay:stale').execute()).toEqual([{ kind: 'void', code: 'expired' }]);
    await dev.json('DELETE', `/api/jobs/${job.id}`);
    expect(await wallet(w.client)).toMatchObject({ pendingIn: 0, earned: 0, available: 100_000 });
    expect((await wallet(dev)).available).toBe(100_000);
    expect((await dev.call('POST', `/api/jobs/${job.id}/budget`, { credits: 1, idempotencyKey: 'late' })).status).toBe(409);
    expect(await auditLedger(coordinator.deps.db)).toMatchObject({ mismatched: [], negative: [], resolvedTwice: [] });
  });

  it('tops a short escrow up from its owner\'s wallet as leases are made, and makes no lease that nobody can pay for', async () => {
    coordinator = await testCoordinator(store);
    const { db } = coordinator.deps;
    const dev = await TestClient.signup(coordinator.url, 'dev-short@example.com');
    await dev.useNewKey();
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 16, k: 8, n: 8, seed: 2 }, tile: 8 }, verification: 'replicate' }, 201);
    const worker = await TestClient.signup(coordinator.url, 'w-short@example.com');
    const available = async (id: string) => {
      const a = await db.selectFrom('ledger_accounts').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      return a.credits_posted - a.debits_posted - a.debits_pending;
    };
    await dev.json('POST', `/api/jobs/${job.id}/budget`, { credits: 1, idempotencyKey: 'room' });
    const escrowed = (await db.selectFrom('jobs').select('escrow').where('id', '=', job.id).executeTakeFirstOrThrow()).escrow;
    const escrow = await available(escrowAccount(job.id));
    const wallet = await available(userAccount(dev.accountId));
    // At 1 credit per GFLOP a lease of `amount` × 10³ FLOPs pays `amount` µcr.
    const lease = (amount: number) => ({ attemptId: randomUUID(), holder: worker.accountId, jobId: job.id, flops: amount * 1e3, bid: 1e6 });
    const leases = [lease(escrow - 1000), lease(3000), lease(wallet), lease(500)];
    const uncovered = await inTransaction(db, (trx) => reservePays(trx, leases));
    expect([...uncovered]).toEqual([leases[2]!.attemptId]);
    // 2,000 µcr short at the second lease and 500 at the fourth: one top-up, named by the first it served.
    expect(await db.selectFrom('transfers').select(['id', 'amount']).where('code', '=', 'escrow').where('id', 'like', 'topup:%').where('id', '!=', `topup:${job.id}:room`).execute()).toEqual([{ id: `topup:${job.id}:${leases[1]!.attemptId}`, amount: 2500 }]);
    expect((await db.selectFrom('transfers').select('id').where('code', '=', 'pay').execute()).map((t) => t.id).sort()).toEqual([0, 1, 3].map((i) => `pay:${leases[i]!.attemptId}`).sort());
    expect(await available(escrowAccount(job.id))).toBe(0);
    expect(await available(userAccount(dev.accountId))).toBe(wallet - 2500);
    expect((await db.selectFrom('jobs').select('escrow').where('id', '=', job.id).executeTakeFirstOrThrow()).escrow).toBe(escrowed + 2500);
    expect(await auditLedger(db)).toMatchObject({ mismatched: [], negative: [], resolvedTwice: [] });
  });

  it('leases no more units in a round than the escrow and its owner\'s wallet can pay, and leases the rest once they can', async () => {
    coordinator = await testCoordinator(store);
    const { db } = coordinator.deps;
    const dev = await TestClient.signup(coordinator.url, 'dev-dry@example.com');
    await dev.useNewKey();
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 16, k: 8, n: 8, seed: 3 }, tile: 8 }, verification: 'check' }, 201);
    const unitPay = payFor(2 * 8 * 8 * 8, job.bid * 1e6);
    // Leave one unit's pay and a half, between the escrow and the owner's wallet.
    await inTransaction(db, async (trx) => {
      const left = async (id: string) => {
        const a = await trx.selectFrom('ledger_accounts').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
        return a.credits_posted - a.debits_posted - a.debits_pending;
      };
      await transfer(trx, { id: 'drain:escrow', debit: escrowAccount(job.id), credit: 'treasury', amount: (await left(escrowAccount(job.id))) - unitPay, code: 'burn' });
      await transfer(trx, { id: 'drain:wallet', debit: userAccount(dev.accountId), credit: 'treasury', amount: (await left(userAccount(dev.accountId))) - Math.floor(unitPay / 2), code: 'burn' });
    });
    const w = await worker('w-dry@example.com');
    w.node.send({ type: 'request', slots: 2 });
    const first = await w.node.next('lease');
    // The round's other pick was not leased and left no attempt behind (its lease came with the round's commit).
    expect((await db.selectFrom('attempts').select('id').execute()).map((a) => a.id)).toEqual([first.attemptId]);
    expect(w.node.received.filter((m) => m.type === 'lease')).toEqual([]);
    await inTransaction(db, (trx) => transfer(trx, { id: 'refill', debit: 'treasury', credit: userAccount(dev.accountId), amount: micro(2), code: 'mint' }));
    await dev.json('POST', `/api/jobs/${job.id}/budget`, { credits: 1, idempotencyKey: 'more' });
    const second = await w.node.lease();
    expect(second.unit.id).not.toBe(first.unit.id);
    expect(await auditLedger(db)).toMatchObject({ mismatched: [], negative: [], resolvedTwice: [] });
  });

  it('serves higher bids first, ages waiting jobs so none starve, and gives a node only units whose bid meets its ask', async () => {
    coordinator = await testCoordinator(store);
    const dev = await TestClient.signup(coordinator.url, 'dev@example.com');
    await dev.useNewKey();
    const spec = { random: { m: 32, k: 32, n: 32, seed: 1 }, tile: 32 };
    const cheap = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec, bid: 1 }, 201);
    const dear = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec, bid: 10 }, 201);
    const picky = await worker('picky@example.com', { ask: 20 });
    picky.node.send({ type: 'request', slots: 1 });
    await expect(picky.node.next('lease', 1500)).rejects.toThrow(/no lease/);
    const w = await worker('w@example.com');
    // Each unit is done before the next is asked for (a node holds only what its speed justifies).
    const next = async () => {
      const lease = await w.node.lease();
      await w.node.submit(lease, await w.node.compute(lease));
      return lease.unit.jobId;
    };
    expect(await next()).toBe(dear.id);
    // The cheap job has waited an hour: 2^(3600/600) = 64× its bid outranks a fresh bid of 10.
    const fresh = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec, bid: 10 }, 201);
    await coordinator.deps.db.updateTable('jobs').set({ created_at: new Date(Date.now() - 3600_000) }).where('id', '=', cheap.id).execute();
    expect(await next()).toBe(cheap.id);
    expect(await next()).toBe(fresh.id);
    // A job that meets the ask reaches the picky node.
    const rich = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec, bid: 25 }, 201);
    expect((await picky.node.next('lease')).unit.jobId).toBe(rich.id);
  });

  it('moves credits between accounts once per idempotency key, and refuses what it must with a clear error', async () => {
    coordinator = await testCoordinator(store, { SUPERNET_STARTER_GRANT: '100' });
    const a = await TestClient.signup(coordinator.url, 'a@example.com');
    const b = await TestClient.signup(coordinator.url, 'b@example.com');
    const send = (body: object) => a.call('POST', '/api/transfers', body);
    const first = await send({ to: 'B@example.com', amount: 12.5, idempotencyKey: 'rent-1' });
    expect(first.status).toBe(201);
    const again = await send({ to: b.accountId, amount: 12.5, idempotencyKey: 'rent-1' });
    expect(again.status).toBe(200);
    expect((await again.json()).applied).toBe(false);
    expect((await send({ to: b.accountId, amount: 13, idempotencyKey: 'rent-1' })).status).toBe(409);
    expect((await send({ to: 'nobody@example.com', amount: 1, idempotencyKey: 'x1' })).status).toBe(404);
    expect((await send({ to: a.accountId, amount: 1, idempotencyKey: 'x2' })).status).toBe(400);
    expect((await send({ to: b.accountId, amount: 0.0000001, idempotencyKey: 'x3' })).status).toBe(400);
    const over = await send({ to: b.accountId, amount: 88, idempotencyKey: 'x4' });
    expect(over.status).toBe(402);
    expect((await over.json()).error.message).toBe('Not enough credits: that needs 88.00 credits and 87.50 are available.');
    expect((await wallet(a)).available).toBe(87.5);
    expect((await wallet(b)).available).toBe(112.5);
    const hist = await b.json('GET', '/api/ledger/transfers');
    expect(hist.transfers.find((t: { code: string }) => t.code === 'transfer')).toMatchObject({ direction: 'in', amount: 12.5 });
  });

  it('raises the price while work waits and no node is online, shows it and its history, and bids it by default', async () => {
    coordinator = await testCoordinator(store, { SUPERNET_MARKET_MS: '100' });
    const dev = await TestClient.signup(coordinator.url, 'dev@example.com');
    await dev.useNewKey();
    const first = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 256, k: 256, n: 256, seed: 1 } } }, 201);
    expect(first.bid).toBeLessThanOrEqual(1); // the base price, or lower after idle ticks
    const market = await eventually(async () => {
      const m = await dev.json('GET', '/api/market');
      return m.price > first.bid * 1.2 ? m : null;
    }, 'the price to rise', 20_000, 100);
    expect(market).toMatchObject({ unit: 'credits per GFLOP', base: 1, bounds: { min: 0.25, max: 4, stepMax: 0.1 }, supply: { nodes: 0, gflops: 0 } });
    expect(market.demand.flops).toBe(2 * 256 ** 3);
    const prices = market.history.map((h: { price: number }) => h.price).slice(-3);
    for (let i = 1; i < prices.length; i++) {
      expect(prices[i]).toBeGreaterThan(prices[i - 1]);
      expect(prices[i]).toBeLessThanOrEqual(prices[i - 1] * 1.1 + 1e-6);
    }
    const second = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 64, k: 64, n: 64, seed: 1 } } }, 201);
    expect(second.bid).toBeGreaterThan(first.bid);
  });
});
