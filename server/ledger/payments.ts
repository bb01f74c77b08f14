import { sql } from 'kysely';
import { inTransaction, type Db, type Trx } from '../db/index.ts';
import { AppError } from '../errors.ts';
import { payFor, showCredits, toCredits } from './credit.ts';
import { balanceOf, escrowAccount, expirePending, lockHead, openAccount, openAccounts, resolve, resolveMany, transfer, transferAll, transferMany, treasury, userAccount, type LedgerAccountRow, type PendingTransfer, type Resolution, type TransferSpec } from './ledger.ts';

/**
 * How jobs pay their contributors.
 *
 *   submit ── escrow:<job> ◀── the owner's estimate at the job's bid (402 when short)
 *   lease  ── pay:<attempt> pending, escrow ▶ contributor (the unit's FLOPs × the job's bid)
 *   verdict── valid   ─▶ posted       invalid / expired / failed / not needed ─▶ voided
 *   end    ── what is left in escrow ▶ the owner (refund:<job>)
 *
 * The pay is reserved as a pending transfer when the lease is issued, not when the result
 * comes: leases in flight can then never promise more than the escrow holds. When it is
 * final: a `check` verdict is final at once (each result is checked against the inputs
 * and never re-opened). A `replicate` verdict can still be withdrawn while the job is open
 * (a re-check after a node is caught, server/verify/adaptive.ts), so its pays stay pending
 * until the job ends — the contributor sees them as pending credit. Replicas that verification
 * needed are paid like any other valid attempt, so the job's cost shows what verification cost.
 * Anonymous nodes (`anon:<node>`) earn nothing and reserve nothing.
 * Known-answer attempts (units already verified, leased again to vet a new node) are paid
 * from the treasury when right: the network's cost of vetting, not the developer's.
 */

/** A pending pay no verdict reached (a bug, or a coordinator gone for good) voids after this. */
export const payTimeoutMs = 7 * 24 * 3600_000;

export const jobEnded = (state: string) => state === 'done' || state === 'failed' || state === 'cancelled';

/** What a job's owner must escrow: every unit's pay × its expected executions, plus headroom. */
export function estimateEscrow(unitFlops: number[], bid: number, executions: number, headroom: number): { estimate: number; escrow: number } {
  let perRun = 0;
  for (const flops of unitFlops) perRun += payFor(flops, bid);
  const estimate = perRun * executions;
  return { estimate, escrow: Math.ceil(estimate * (1 + headroom)) };
}

/** Moves the job's escrow out of its owner's wallet; 402 with the figures when it is short. */
export async function escrowJob(trx: Trx, job: { id: string; account_id: string }, amount: number) {
  await openAccount(trx, escrowAccount(job.id), 'escrow', { jobId: job.id });
  await openAccount(trx, userAccount(job.account_id), 'user', { accountId: job.account_id });
  try {
    await transfer(trx, { id: `escrow:${job.id}`, debit: userAccount(job.account_id), credit: escrowAccount(job.id), amount, code: 'escrow', jobId: job.id });
  } catch (err) {
    if (err instanceof AppError && err.status === 402) {
      const wallet = await trx.selectFrom('ledger_accounts').select(['credits_posted', 'debits_posted', 'debits_pending']).where('id', '=', userAccount(job.account_id)).executeTakeFirstOrThrow();
      const available = wallet.credits_posted - wallet.debits_posted - wallet.debits_pending;
      throw new AppError(402, 'insufficient_credits', `Not enough credits: this job escrows ${showCredits(amount)} credits and you have ${showCredits(available)} credits. Lower the bid or the size, or earn credits by contributing.`);
    }
    throw err;
  }
}

/** Adds to a running job's escrow (idempotent on `key`). */
export async function topUpEscrow(trx: Trx, job: { id: string; account_id: string }, amount: number, key: string) {
  const { created } = await transfer(trx, { id: `topup:${job.id}:${key}`, debit: userAccount(job.account_id), credit: escrowAccount(job.id), amount, code: 'escrow', jobId: job.id });
  if (created) await trx.updateTable('jobs').set((eb) => ({ escrow: eb('escrow', '+', amount) })).where('id', '=', job.id).execute();
}

export interface PayLease {
  attemptId: string;
  holder: string;
  jobId: string;
  flops: number;
  bid: number;
  /** The holder's ledger account is known to exist (a node's hello opens it): not opened again here. */
  opened?: boolean;
}

/**
 * Reserves the pays of leases about to be issued, all in one batch. When a job's escrow is
 * short (a replicate job whose disagreements and re-checks needed more replicas than the
 * estimate), the shortfall comes from the owner's wallet first (`topup:<job>:<attempt>`), so
 * the job's cost is what its verification really took. Returns the attempts it could not
 * cover (each job's leases in order, until its escrow and its owner's wallet are spent):
 * those are not to be leased.
 */
export async function reservePays(trx: Trx, leases: PayLease[]): Promise<Set<string>> {
  const paid = leases.filter((l) => !l.holder.startsWith('anon:')); // anonymous nodes earn nothing
  const uncovered = new Set<string>();
  if (!paid.length) return uncovered;
  await openAccounts(trx, [...new Set(paid.filter((l) => !l.opened).map((l) => l.holder))].map((holder) => ({ id: userAccount(holder), kind: 'user' as const, accountId: holder })));
  await lockHead(trx); // the balances read below stay true until this transaction ends
  // The jobs' escrows and their owners' wallets, locked: read once here and handed to the
  // transfers below, which check them as they move (a statement less than reading them twice).
  const jobIds = [...new Set(paid.map((l) => l.jobId))];
  const found = await sql<LedgerAccountRow & { job: string; owner: string }>`
    select a.*, j.id as job, j.account_id as owner from jobs j
    join ledger_accounts a on a.id in ('escrow:' || j.id::text, 'user:' || j.account_id::text)
    where j.id in (${sql.join(jobIds)}) order by a.id for update of a`.execute(trx);
  const accounts = new Map(found.rows.map(({ job: _, owner: __, ...a }) => [a.id, a]));
  const owners = new Map(found.rows.map((r) => [r.job, r.owner]));
  const specs: TransferSpec[] = [];
  const topUps: { jobId: string; amount: number }[] = [];
  for (const jobId of jobIds) {
    const owner = owners.get(jobId);
    const escrowRow = accounts.get(escrowAccount(jobId));
    const mine = paid.filter((l) => l.jobId === jobId);
    // A job with no escrow account has nothing to pay from: its leases are not made.
    if (!owner || !escrowRow) {
      for (const lease of mine) uncovered.add(lease.attemptId);
      continue;
    }
    const walletRow = accounts.get(userAccount(owner));
    let wallet = walletRow ? balanceOf(walletRow).available - spent(specs, userAccount(owner)) : 0;
    let escrow = balanceOf(escrowRow).available;
    const topUp = { amount: 0, key: '' };
    const pays: TransferSpec[] = [];
    for (const lease of mine) {
      const amount = payFor(lease.flops, lease.bid);
      const short = amount - escrow;
      if (short > 0) {
        if (wallet < short) {
          uncovered.add(lease.attemptId);
          continue;
        }
        wallet -= short;
        topUp.amount += short;
        topUp.key ||= lease.attemptId;
        escrow += short;
      }
      escrow -= amount;
      pays.push({ id: `pay:${lease.attemptId}`, debit: escrowAccount(jobId), credit: userAccount(lease.holder), amount, code: 'pay', pending: true, jobId, attemptId: lease.attemptId, timeoutAt: new Date(Date.now() + payTimeoutMs) });
    }
    // The top-up first, so the pays after it see the escrow it filled.
    if (topUp.amount) {
      specs.push({ id: `topup:${jobId}:${topUp.key}`, debit: userAccount(owner), credit: escrowAccount(jobId), amount: topUp.amount, code: 'escrow', jobId });
      topUps.push({ jobId, amount: topUp.amount });
    }
    specs.push(...pays);
  }
  // Every id is new: named by attempts made in this claim.
  await transferMany(trx, specs, { fresh: true, accounts });
  if (topUps.length) {
    await sql`update jobs j set escrow = j.escrow + v.amount from (values ${sql.join(topUps.map((t) => sql`(${t.jobId}::uuid, ${t.amount}::int8)`))}) as v(id, amount) where j.id = v.id`.execute(trx);
  }
  return uncovered;
}

/** What the transfers so far take out of an account (one owner's wallet topping up several jobs). */
const spent = (specs: TransferSpec[], account: string) => specs.reduce((sum, t) => sum + (t.debit === account ? t.amount : 0), 0);

/** Pays a right known-answer attempt from the treasury. */
export async function payVetting(trx: Trx, attempt: { id: string; holder: string; flops: number; bid: number }) {
  if (attempt.holder.startsWith('anon:')) return;
  await openAccount(trx, userAccount(attempt.holder), 'user', { accountId: attempt.holder });
  await transfer(trx, { id: `vet:${attempt.id}`, debit: treasury, credit: userAccount(attempt.holder), amount: payFor(attempt.flops, attempt.bid), code: 'vetting', attemptId: attempt.id });
}

/** The verdict on a pending pay, from its attempt's state and its job's; null: not yet. */
export function payVerdict(attempt: string, verification: string, job: string, lone = false): [Resolution, string] | null {
  // A `check` verdict is final, but for a result taken unchecked (server/verify/sampled.ts):
  // it is voided if its node is caught lying later in the job.
  const final = (verification === 'check' && !lone) || jobEnded(job);
  switch (attempt) {
    case 'expired':
    case 'failed':
    case 'cancelled':
      return ['void', attempt];
    case 'valid':
      return final ? ['post', 'verified'] : null;
    case 'invalid':
      return final ? ['void', 'invalid'] : null;
    default: // leased, returned
      return jobEnded(job) ? ['void', 'not needed'] : null;
  }
}

/**
 * Applies the verdicts that are due on the open pays of these attempts, of these units'
 * attempts, or of this job. The head is locked first, so what is read from transfers_pending is
 * open until this transaction resolves it (resolveMany need not read it again).
 */
export async function settlePays(trx: Trx, of: { attemptIds: string[] } | { unitIds: string[] } | { jobId: string }) {
  if (('attemptIds' in of && !of.attemptIds.length) || ('unitIds' in of && !of.unitIds.length)) return;
  await lockHead(trx);
  // Each open pay is reached from its attempt through keys, one probe per attempt (the
  // laterals' `offset 0` keeps the planner from flattening them into joins). As joins, a
  // fresh PostgreSQL's statistics (tables grown from empty since the last ANALYZE) led it
  // to hash the whole units and transfers tables for a batch of 48: 16 ms, under the head's
  // lock, growing with the history.
  const attempts =
    'jobId' in of
      ? sql`select a.* from transfers_pending p join attempts a on a.id = p.attempt_id where p.job_id = ${of.jobId}`
      : 'unitIds' in of
        ? sql`select a.* from unnest(${of.unitIds}::uuid[]) as x(id) cross join lateral (select * from attempts a where a.unit_id = x.id offset 0) a`
        : sql`select a.* from attempts a where a.id = any(${of.attemptIds}::uuid[])`;
  const { rows: open } = await sql<PendingTransfer & { attempt: string; lone: boolean; verification: string; job: string }>`
    select t.id, t.kind, t.amount, t.debit_account_id, t.credit_account_id, t.job_id, t.attempt_id,
           a.state as attempt, a.lone, j.verification, j.state as job
    from (${attempts}) a
    cross join lateral (select p.id from transfers_pending p where p.attempt_id = a.id offset 0) p
    cross join lateral (select t.* from transfers t where t.id = p.id offset 0) t
    cross join lateral (select j.verification, j.state from jobs j where j.id = t.job_id offset 0) j
    `.execute(trx);
  const due = open.flatMap((row) => {
    const verdict = payVerdict(row.attempt, row.verification, row.job, row.lone);
    return verdict ? [{ pendingId: row.id, action: verdict[0], code: verdict[1] }] : [];
  });
  await resolveMany(trx, due, new Map(open.map(({ attempt: _, lone: __, verification: ___, job: ____, ...t }) => [t.id, t])));
}

/** A job ended: every open pay gets its verdict, then the rest of the escrow goes home. */
export async function closeJobLedger(trx: Trx, jobId: string) {
  await settlePays(trx, { jobId });
  const job = await trx.selectFrom('jobs').select('account_id').where('id', '=', jobId).executeTakeFirstOrThrow();
  await transferAll(trx, { id: `refund:${jobId}`, debit: escrowAccount(jobId), credit: userAccount(job.account_id), code: 'refund', jobId });
}

/**
 * The sweeper's ledger round, a safety net under the transactions above: pays whose verdict
 * is due, pays past their timeout, and escrows of ended jobs with credits left.
 */
export async function reconcileLedger(db: Db): Promise<void> {
  const due = await sql<{ attempt_id: string }>`
    select p.attempt_id from transfers_pending p
    join attempts a on a.id = p.attempt_id join units u on u.id = a.unit_id join jobs j on j.id = u.job_id
    where a.state in ('expired', 'failed', 'cancelled') or j.state in ('done', 'failed', 'cancelled')
       or (j.verification = 'check' and a.state in ('valid', 'invalid'))
    limit 500`.execute(db);
  if (due.rows.length) await inTransaction(db, (trx) => settlePays(trx, { attemptIds: due.rows.map((r) => r.attempt_id) }));
  await expirePending(db, new Date(), (id) => inTransaction(db, (trx) => resolve(trx, id, 'void', 'expired')));
  const left = await sql<{ id: string }>`
    select j.id from ledger_accounts e join jobs j on j.id = e.job_id
    where e.kind = 'escrow' and e.credits_posted - e.debits_posted - e.debits_pending > 0
      and j.state in ('done', 'failed', 'cancelled')
    limit 100`.execute(db);
  for (const { id } of left.rows) await inTransaction(db, (trx) => closeJobLedger(trx, id));
}

/** The starter grant of a new account, minted from the treasury. */
export async function grantStarter(trx: Trx, accountId: string, amount: number) {
  await openAccount(trx, userAccount(accountId), 'user', { accountId });
  if (amount > 0) await transfer(trx, { id: `grant:${accountId}`, debit: treasury, credit: userAccount(accountId), amount, code: 'grant' });
}
