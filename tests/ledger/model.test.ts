import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTransaction, openStore, type Db } from '../../server/db/index.ts';
import { AppError } from '../../server/errors.ts';
import { auditLedger, escrowAccount, openAccount, resolve, resolveMany, transfer, transferAll, transferMany, treasury, userAccount, type TransferSpec } from '../../server/ledger/ledger.ts';
import { verifyLedgerDb } from '../../server/ledger/checkpoint.ts';
import { escrowJob } from '../../server/ledger/payments.ts';
import { storeEnv } from '../helpers/coordinator.ts';
import { storeKinds } from '../helpers/stores.ts';

/**
 * Model-based test of the ledger (fast-check `commands`): random sequences of submissions
 * (escrow), payments (pending), verifications (post), invalid results and expiries (void),
 * cancels (void the rest, refund), transfers, mints, burns, and retries with the same id —
 * each one run against the real store and against a plain model of balances. After every
 * step the touched accounts equal the model; after runs, the whole ledger is audited:
 * supply = minted − burned, no balance below zero, no pending resolved twice, and the
 * cached sums agree with the transfers.
 */
interface Pending {
  id: string;
  job: number;
  to: number;
  amount: number;
  state: 'open' | 'post' | 'void';
}
interface Model {
  posted: number[];
  pendingIn: number[];
  jobs: { id: string; owner: number; posted: number; pendingOut: number }[];
  pendings: Pending[];
  done: TransferSpec[];
  minted: number;
  burned: number;
  refunded: number;
}
interface Real {
  db: Db;
  users: string[];
  run: string;
  counter: number;
}
const users = 3;
const spendable = (m: Model, u: number) => m.posted[u]!;

/** Runs `act`; a 402 must leave the model untouched, any other error fails the test. */
async function refusedOr402(act: () => Promise<unknown>): Promise<boolean> {
  try {
    await act();
    return true;
  } catch (err) {
    if (err instanceof AppError && err.status === 402) return false;
    throw err;
  }
}

async function check(m: Model, r: Real) {
  const rows = await r.db
    .selectFrom('ledger_accounts')
    .selectAll()
    .where('id', 'in', [...r.users.map(userAccount), ...m.jobs.map((j) => escrowAccount(j.id)), 'x'])
    .execute();
  const byId = new Map(rows.map((a) => [a.id, a]));
  r.users.forEach((u, i) => {
    const a = byId.get(userAccount(u))!;
    expect({ user: i, posted: a.credits_posted - a.debits_posted, pendingIn: a.credits_pending }).toEqual({ user: i, posted: m.posted[i], pendingIn: m.pendingIn[i] });
    expect(a.debits_pending).toBe(0); // wallets never hold pending debits in this model
  });
  for (const j of m.jobs) {
    const a = byId.get(escrowAccount(j.id))!;
    expect({ escrow: j.id, posted: a.credits_posted - a.debits_posted, pendingOut: a.debits_pending }).toEqual({ escrow: j.id, posted: j.posted, pendingOut: j.pendingOut });
    expect(a.credits_posted - a.debits_posted - a.debits_pending).toBeGreaterThanOrEqual(0);
  }
}

const nextId = (r: Real, what: string) => `${what}:${r.run}:${r.counter++}`;

class Mint implements fc.AsyncCommand<Model, Real> {
  constructor(readonly user: number, readonly amount: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const spec = { id: nextId(r, 'mint'), debit: treasury, credit: userAccount(r.users[this.user]!), amount: this.amount, code: 'mint' };
    await inTransaction(r.db, (trx) => transfer(trx, spec));
    m.posted[this.user]! += this.amount;
    m.minted += this.amount;
    m.done.push(spec);
    await check(m, r);
  }
  toString = () => `mint(${this.user}, ${this.amount})`;
}

class Burn implements fc.AsyncCommand<Model, Real> {
  constructor(readonly user: number, readonly amount: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const spec = { id: nextId(r, 'burn'), debit: userAccount(r.users[this.user]!), credit: treasury, amount: this.amount, code: 'burn' };
    const ok = await refusedOr402(() => inTransaction(r.db, (trx) => transfer(trx, spec)));
    expect(ok).toBe(spendable(m, this.user) >= this.amount);
    if (ok) {
      m.posted[this.user]! -= this.amount;
      m.burned += this.amount;
      m.done.push(spec);
    }
    await check(m, r);
  }
  toString = () => `burn(${this.user}, ${this.amount})`;
}

class Send implements fc.AsyncCommand<Model, Real> {
  constructor(readonly from: number, readonly to: number, readonly amount: number) {}
  check = () => this.from !== this.to;
  async run(m: Model, r: Real) {
    const spec = { id: nextId(r, 'xfer'), debit: userAccount(r.users[this.from]!), credit: userAccount(r.users[this.to]!), amount: this.amount, code: 'transfer' };
    const ok = await refusedOr402(() => inTransaction(r.db, (trx) => transfer(trx, spec)));
    expect(ok).toBe(spendable(m, this.from) >= this.amount);
    if (ok) {
      m.posted[this.from]! -= this.amount;
      m.posted[this.to]! += this.amount;
      m.done.push(spec);
    }
    await check(m, r);
  }
  toString = () => `send(${this.from}→${this.to}, ${this.amount})`;
}

/** The same id again: with the same fields nothing changes; with another amount, 409. */
class Retry implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pick: number, readonly tamper: boolean) {}
  check = (m: Readonly<Model>) => m.done.length > 0;
  async run(m: Model, r: Real) {
    const spec = m.done[this.pick % m.done.length]!;
    if (this.tamper) {
      await expect(inTransaction(r.db, (trx) => transfer(trx, { ...spec, amount: spec.amount + 1 }))).rejects.toMatchObject({ status: 409 });
    } else {
      const again = await inTransaction(r.db, (trx) => transfer(trx, spec));
      expect(again.created).toBe(false);
    }
    await check(m, r);
  }
  toString = () => `retry(#${this.pick}${this.tamper ? ', other fields' : ''})`;
}

class Submit implements fc.AsyncCommand<Model, Real> {
  constructor(readonly owner: number, readonly amount: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const owner = r.users[this.owner]!;
    const jobId = randomUUID();
    const ok = await refusedOr402(() =>
      inTransaction(r.db, async (trx) => {
        await trx.insertInto('jobs').values({ id: jobId, account_id: owner, kind: 'matmul', spec: '{}', plan: '{}', state: 'running', replication: 1, units_total: 1, flops: 1 }).execute();
        await escrowJob(trx, { id: jobId, account_id: owner }, this.amount);
      }),
    );
    expect(ok).toBe(spendable(m, this.owner) >= this.amount);
    if (ok) {
      m.posted[this.owner]! -= this.amount;
      m.jobs.push({ id: jobId, owner: this.owner, posted: this.amount, pendingOut: 0 });
    } else {
      expect(await r.db.selectFrom('jobs').select('id').where('id', '=', jobId).executeTakeFirst()).toBeUndefined(); // nothing half-made
    }
    await check(m, r);
  }
  toString = () => `submit(${this.owner}, ${this.amount})`;
}

class Pay implements fc.AsyncCommand<Model, Real> {
  constructor(readonly job: number, readonly to: number, readonly amount: number) {}
  check = (m: Readonly<Model>) => m.jobs.length > 0;
  async run(m: Model, r: Real) {
    const j = this.job % m.jobs.length;
    const job = m.jobs[j]!;
    const attemptId = randomUUID();
    const spec = { id: `pay:${attemptId}`, debit: escrowAccount(job.id), credit: userAccount(r.users[this.to]!), amount: this.amount, code: 'pay', pending: true, jobId: job.id, attemptId };
    const ok = await refusedOr402(() => inTransaction(r.db, (trx) => transfer(trx, spec)));
    expect(ok).toBe(job.posted - job.pendingOut >= this.amount);
    if (ok) {
      job.pendingOut += this.amount;
      m.pendingIn[this.to]! += this.amount;
      m.pendings.push({ id: spec.id, job: j, to: this.to, amount: this.amount, state: 'open' });
      m.done.push(spec);
    }
    await check(m, r);
  }
  toString = () => `pay(job ${this.job}, to ${this.to}, ${this.amount})`;
}

function settle(m: Model, p: Pending, action: 'post' | 'void') {
  const job = m.jobs[p.job]!;
  job.pendingOut -= p.amount;
  m.pendingIn[p.to]! -= p.amount;
  if (action === 'post') {
    job.posted -= p.amount;
    m.posted[p.to]! += p.amount;
  }
  p.state = action;
}

/** verify (post), invalid result or expiry (void); a second resolution of one pending is a no-op. */
class Resolve implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pick: number, readonly action: 'post' | 'void', readonly code: string) {}
  check = (m: Readonly<Model>) => m.pendings.length > 0;
  async run(m: Model, r: Real) {
    const p = m.pendings[this.pick % m.pendings.length]!;
    const result = await inTransaction(r.db, (trx) => resolve(trx, p.id, this.action, this.code));
    expect(result.applied).toBe(p.state === 'open');
    if (result.applied) settle(m, p, this.action);
    else expect(result.already).toBe(p.state);
    await check(m, r);
  }
  toString = () => `${this.code}(#${this.pick})`;
}

/**
 * Sends and pays in one batch (transferMany), as the coordinator posts a round of leases:
 * each sees the balances the ones before it left; one that cannot be covered refuses the
 * whole batch (402) and nothing of it is written.
 */
class Batch implements fc.AsyncCommand<Model, Real> {
  constructor(readonly steps: { pay: boolean; from: number; to: number; amount: number }[]) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const posted = [...m.posted];
    const jobs = m.jobs.map((j) => ({ ...j }));
    const specs: TransferSpec[] = [];
    const opened: Pending[] = [];
    let covered = true;
    for (const step of this.steps) {
      if (step.pay && jobs.length) {
        const j = step.from % jobs.length;
        const job = jobs[j]!;
        const attemptId = randomUUID();
        specs.push({ id: `pay:${attemptId}`, debit: escrowAccount(job.id), credit: userAccount(r.users[step.to]!), amount: step.amount, code: 'pay', pending: true, jobId: job.id, attemptId });
        covered &&= job.posted - job.pendingOut >= step.amount;
        job.pendingOut += step.amount;
        opened.push({ id: specs.at(-1)!.id, job: j, to: step.to, amount: step.amount, state: 'open' });
      } else if (step.from % users !== step.to) {
        const from = step.from % users;
        specs.push({ id: nextId(r, 'xfer'), debit: userAccount(r.users[from]!), credit: userAccount(r.users[step.to]!), amount: step.amount, code: 'transfer' });
        covered &&= posted[from]! >= step.amount;
        posted[from]! -= step.amount;
        posted[step.to]! += step.amount;
      }
    }
    const ok = await refusedOr402(() => inTransaction(r.db, (trx) => transferMany(trx, specs)));
    expect(ok).toBe(covered);
    if (ok) {
      m.posted = posted;
      jobs.forEach((j, i) => (m.jobs[i]!.pendingOut = j.pendingOut));
      for (const p of opened) m.pendingIn[p.to]! += p.amount;
      m.pendings.push(...opened);
      m.done.push(...specs);
    }
    await check(m, r);
  }
  toString = () => `batch(${this.steps.map((s) => `${s.pay ? 'pay' : 'send'} ${s.from}→${s.to} ${s.amount}`).join(', ')})`;
}

/** Verdicts on several pays in one batch (resolveMany), the same pay possibly twice: the first wins. */
class ResolveBatch implements fc.AsyncCommand<Model, Real> {
  constructor(readonly picks: { pick: number; action: 'post' | 'void' }[]) {}
  check = (m: Readonly<Model>) => m.pendings.length > 0;
  async run(m: Model, r: Real) {
    const chosen = this.picks.map(({ pick, action }) => ({ p: m.pendings[pick % m.pendings.length]!, action }));
    const results = await inTransaction(r.db, (trx) => resolveMany(trx, chosen.map(({ p, action }) => ({ pendingId: p.id, action, code: action === 'post' ? 'verified' : 'invalid' }))));
    chosen.forEach(({ p, action }, i) => {
      expect(results[i]!.applied).toBe(p.state === 'open');
      if (results[i]!.applied) settle(m, p, action);
      else expect(results[i]!.already).toBe(p.state);
    });
    await check(m, r);
  }
  toString = () => `resolveMany(${this.picks.map((p) => `${p.action} #${p.pick}`).join(', ')})`;
}

/** A job ends: its open pays are voided, the rest of its escrow goes home. */
class Cancel implements fc.AsyncCommand<Model, Real> {
  constructor(readonly job: number) {}
  check = (m: Readonly<Model>) => m.jobs.length > 0;
  async run(m: Model, r: Real) {
    const j = this.job % m.jobs.length;
    const job = m.jobs[j]!;
    const open = m.pendings.filter((p) => p.job === j && p.state === 'open');
    const moved = await inTransaction(r.db, async (trx) => {
      for (const p of open) await resolve(trx, p.id, 'void', 'refund');
      return transferAll(trx, { id: `refund:${job.id}`, debit: escrowAccount(job.id), credit: userAccount(r.users[job.owner]!), code: 'refund', jobId: job.id });
    });
    for (const p of open) settle(m, p, 'void');
    expect(moved).toBe(job.posted - job.pendingOut);
    m.posted[job.owner]! += moved;
    job.posted -= moved;
    m.refunded += moved;
    await check(m, r);
  }
  toString = () => `cancel(job ${this.job})`;
}

const amount = fc.integer({ min: 1, max: 400 });
const user = fc.nat({ max: users - 1 });
const commands = fc.commands(
  [
    fc.tuple(user, amount).map(([u, a]) => new Mint(u, a)),
    fc.tuple(user, amount).map(([u, a]) => new Burn(u, a)),
    fc.tuple(user, user, amount).map(([f, t, a]) => new Send(f, t, a)),
    fc.tuple(fc.nat(), fc.boolean()).map(([p, t]) => new Retry(p, t)),
    fc.tuple(user, fc.integer({ min: 1, max: 600 })).map(([u, a]) => new Submit(u, a)),
    fc.tuple(fc.nat(), user, fc.integer({ min: 1, max: 150 })).map(([j, u, a]) => new Pay(j, u, a)),
    fc.tuple(fc.nat(), fc.constantFrom<['post' | 'void', string]>(['post', 'verified'], ['void', 'invalid'], ['void', 'expired'])).map(([p, [a, c]]) => new Resolve(p, a, c)),
    fc.nat().map((j) => new Cancel(j)),
    fc.array(fc.record({ pay: fc.boolean(), from: fc.nat({ max: 7 }), to: user, amount: fc.integer({ min: 1, max: 250 }) }), { minLength: 1, maxLength: 6 }).map((steps) => new Batch(steps)),
    fc.array(fc.record({ pick: fc.nat(), action: fc.constantFrom<'post' | 'void'>('post', 'void') }), { minLength: 1, maxLength: 5 }).map((picks) => new ResolveBatch(picks)),
  ],
  { maxCommands: 50, size: 'max' },
);

// 1,000 runs on the embedded store; on PostgreSQL (slower per statement over a socket) fewer,
// the same commands: the concurrency tests there are in concurrency.test.ts.
describe.each(storeKinds)('ledger model (%s)', (store) => {
  let db: Db;
  let runs = 0;
  beforeAll(async () => {
    db = await openStore({ dataDir: (await storeEnv(store)).SUPERNET_DATA, databaseUrl: (await storeEnv(store)).DATABASE_URL ?? null });
  });
  afterAll(async () => {
    await db?.destroy();
  });

  it(`keeps supply = minted − burned, no balance below zero, each transfer applied once, over ${store === 'pglite' ? '1,000' : '200'} runs of up to 50 steps`, async () => {
    const grant = 500;
    let minted = 0;
    let burned = 0;
    await fc.assert(
      fc.asyncProperty(commands, async (cmds) => {
        const run = randomUUID().slice(0, 8);
        const ids: string[] = [];
        await inTransaction(db, async (trx) => {
          for (let i = 0; i < users; i++) {
            const a = await trx.insertInto('accounts').values({ email: `${run}-${i}@example.com`, password_hash: 'x' }).returning('id').executeTakeFirstOrThrow();
            await openAccount(trx, userAccount(a.id), 'user', { accountId: a.id });
            await transfer(trx, { id: `grant:${a.id}`, debit: treasury, credit: userAccount(a.id), amount: grant, code: 'grant' });
            ids.push(a.id);
          }
        });
        const model: Model = { posted: Array(users).fill(grant), pendingIn: Array(users).fill(0), jobs: [], pendings: [], done: [], minted: 0, burned: 0, refunded: 0 };
        const real: Real = { db, users: ids, run, counter: 0 };
        await fc.asyncModelRun(() => ({ model, real }), cmds);
        minted += grant * users + model.minted;
        burned += model.burned;
        // Money only moves: this run's wallets and escrows hold what was granted and minted, less burned.
        const held = model.posted.reduce((s, x) => s + x, 0) + model.jobs.reduce((s, j) => s + j.posted, 0);
        expect(held).toBe(grant * users + model.minted - model.burned);
        if (++runs % 100 === 0) await audit();
      }),
      { numRuns: Number(process.env.MODEL_RUNS ?? (store === "pglite" ? 1000 : 200)) },
    );
    await audit();

    async function audit() {
      const a = await auditLedger(db);
      expect(a).toMatchObject({ mismatched: [], negative: [], resolvedTwice: [], total: 0, minted, burned, supply: minted - burned });
      // The hash chain is whole: batches link their rows one after another as single writes do.
      expect((await verifyLedgerDb(db, [])).problems).toEqual([]);
    }
  }, 1_200_000);
});
