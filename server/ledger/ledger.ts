import { sql, type Selectable } from 'kysely';
import type { Db, Trx } from '../db/index.ts';
import type { Database } from '../db/schema.ts';
import { AppError, conflict, notFound } from '../errors.ts';
import { transferHash } from './chain.ts';
import { toCredits } from './credit.ts';

/**
 * The double-entry ledger, on TigerBeetle's model.
 *
 * Accounts: `user:<account id>` (a person's wallet), `escrow:<job id>` (what a job may still
 * spend), `treasury` (the system account; credits are minted from it and burned into it, so
 * minus its balance is the supply in circulation). Each keeps debits/credits × pending/posted.
 *
 * A transfer moves `amount` µcr from its debit account to its credit account and is never
 * changed. Its id is its idempotency key: the same id again with the same fields returns the
 * first transfer and changes nothing; with other fields it is refused (409).
 *   single  ─▶ posted at once
 *   pending ─post─▶ posted      (a later transfer `post:<id>` names it)
 *           ─void─▶ released    (`void:<id>`, for a refund, an invalid result, an expiry)
 * A pending transfer is resolved at most once: the resolution names it in `pending_id`, which
 * is unique, and resolutions run under the ledger head's lock.
 *
 * Every write locks `ledger_head` first, then the accounts it touches: one order, so ledger
 * writes never deadlock one another, and the hash chain (chain.ts) gets one next link.
 */
export type TransferRow = Selectable<Database['transfers']>;
export type LedgerAccountRow = Selectable<Database['ledger_accounts']>;

export const treasury = 'treasury';
export const userAccount = (accountId: string) => `user:${accountId}`;
export const escrowAccount = (jobId: string) => `escrow:${jobId}`;

export interface TransferSpec {
  id: string;
  debit: string;
  credit: string;
  /** µcr, a positive integer. */
  amount: number;
  /** Why: grant, mint, burn, escrow, pay, refund, vetting, transfer, … */
  code: string;
  pending?: boolean;
  jobId?: string | null;
  attemptId?: string | null;
  timeoutAt?: Date | null;
  memo?: string | null;
}

export const insufficient = (message: string) => new AppError(402, 'insufficient_credits', message);

/** What an account holds: posted credits less posted and pending debits may be spent. */
export function balanceOf(a: Pick<LedgerAccountRow, 'debits_pending' | 'debits_posted' | 'credits_pending' | 'credits_posted'>) {
  return {
    posted: a.credits_posted - a.debits_posted,
    available: a.credits_posted - a.debits_posted - a.debits_pending,
    pendingIn: a.credits_pending,
    pendingOut: a.debits_pending,
  };
}

/** Opens a ledger account if it does not exist yet (idempotent). */
export async function openAccount(db: Db | Trx, id: string, kind: 'user' | 'escrow', owner: { accountId?: string; jobId?: string }) {
  await db
    .insertInto('ledger_accounts')
    .values({ id, kind, account_id: owner.accountId ?? null, job_id: owner.jobId ?? null })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}

const sameFields = (t: TransferRow, s: TransferSpec) =>
  t.debit_account_id === s.debit &&
  t.credit_account_id === s.credit &&
  t.amount === s.amount &&
  t.code === s.code &&
  t.kind === (s.pending ? 'pending' : 'single') &&
  (t.job_id ?? null) === (s.jobId ?? null) &&
  (t.attempt_id ?? null) === (s.attemptId ?? null) &&
  (t.memo ?? null) === (s.memo ?? null);

/** Takes the ledger's lock for a read-then-write (ledger writes take it themselves). */
export async function lockHead(trx: Trx) {
  return trx.selectFrom('ledger_head').select(['seq', 'hash']).forUpdate().executeTakeFirstOrThrow();
}

async function append(trx: Trx, head: { seq: number; hash: string }, row: Omit<TransferRow, 'seq' | 'prev_hash' | 'hash' | 'created_at'>): Promise<TransferRow> {
  const seq = head.seq + 1;
  const full = { ...row, seq, created_at: new Date(), prev_hash: head.hash };
  const hash = transferHash(head.hash, full);
  await trx.insertInto('transfers').values({ ...full, hash }).execute();
  await trx.updateTable('ledger_head').set({ seq, hash }).execute();
  return { ...full, hash };
}

async function lockAccount(trx: Trx, id: string) {
  const account = await trx.selectFrom('ledger_accounts').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
  if (!account) throw notFound(`No ledger account ${id}.`);
  return account;
}

/**
 * Creates a transfer, or returns the one that already has this id. Throws 402 when the debit
 * account (other than the treasury) cannot cover it, 409 when the id was used for another.
 */
export async function transfer(trx: Trx, spec: TransferSpec): Promise<{ created: boolean; transfer: TransferRow }> {
  if (!Number.isSafeInteger(spec.amount) || spec.amount <= 0) throw new AppError(400, 'bad_amount', 'A transfer moves a positive whole number of µcr.');
  if (spec.debit === spec.credit) throw new AppError(400, 'same_account', 'A transfer needs two different accounts.');
  const head = await lockHead(trx);
  const existing = await trx.selectFrom('transfers').selectAll().where('id', '=', spec.id).executeTakeFirst();
  if (existing) {
    if (sameFields(existing, spec)) return { created: false, transfer: existing };
    throw conflict(`A transfer with id "${spec.id}" already exists with other fields: use a new idempotency key for a new transfer.`);
  }
  const debit = await lockAccount(trx, spec.debit);
  await lockAccount(trx, spec.credit);
  if (debit.kind !== 'system' && balanceOf(debit).available < spec.amount) {
    throw insufficient(`Not enough credits: that needs ${toCredits(spec.amount)} and ${toCredits(Math.max(0, balanceOf(debit).available))} are available.`);
  }
  const pending = !!spec.pending;
  await trx
    .updateTable('ledger_accounts')
    .set((eb) => (pending ? { debits_pending: eb('debits_pending', '+', spec.amount) } : { debits_posted: eb('debits_posted', '+', spec.amount) }))
    .where('id', '=', spec.debit)
    .execute();
  await trx
    .updateTable('ledger_accounts')
    .set((eb) => (pending ? { credits_pending: eb('credits_pending', '+', spec.amount) } : { credits_posted: eb('credits_posted', '+', spec.amount) }))
    .where('id', '=', spec.credit)
    .execute();
  const row = await append(trx, head, {
    id: spec.id,
    debit_account_id: spec.debit,
    credit_account_id: spec.credit,
    amount: spec.amount,
    kind: pending ? 'pending' : 'single',
    pending_id: null,
    code: spec.code,
    job_id: spec.jobId ?? null,
    attempt_id: spec.attemptId ?? null,
    timeout_at: pending ? (spec.timeoutAt ?? null) : null,
    memo: spec.memo ?? null,
  });
  if (pending) await trx.insertInto('transfers_pending').values({ id: row.id, timeout_at: row.timeout_at, job_id: row.job_id, attempt_id: row.attempt_id }).execute();
  return { created: true, transfer: row };
}

/**
 * Moves everything `from` has available to `to` (a job's unspent escrow back to its owner).
 * The first such transfer gets the id `id`; later ones (credits released into the escrow
 * after it, by a straggling void) `id:<seq>`. Returns the µcr moved.
 */
export async function transferAll(trx: Trx, spec: Omit<TransferSpec, 'amount' | 'pending'>): Promise<number> {
  const head = await lockHead(trx);
  const from = await lockAccount(trx, spec.debit);
  const amount = balanceOf(from).available;
  if (amount <= 0) return 0;
  const used = await trx.selectFrom('transfers').select('id').where('id', '=', spec.id).executeTakeFirst();
  await transfer(trx, { ...spec, id: used ? `${spec.id}:${head.seq + 1}` : spec.id, amount });
  return amount;
}

export type Resolution = 'post' | 'void';

/**
 * Posts or voids a pending transfer. Exactly one resolution ever applies: the first under the
 * head's lock wins and later ones get `{ applied: false, already }`. `code` says why (a void
 * for an invalid result, a refund, an expiry: 'invalid', 'refund', 'expired', …).
 */
export async function resolve(trx: Trx, pendingId: string, action: Resolution, code: string): Promise<{ applied: boolean; already?: Resolution }> {
  const head = await lockHead(trx);
  const pending = await trx.selectFrom('transfers').selectAll().where('id', '=', pendingId).executeTakeFirst();
  if (!pending || pending.kind !== 'pending') throw notFound(`No pending transfer ${pendingId}.`);
  const done = await trx.selectFrom('transfers').select('kind').where('pending_id', '=', pendingId).executeTakeFirst();
  if (done) return { applied: false, already: done.kind as Resolution };
  await lockAccount(trx, pending.debit_account_id);
  await lockAccount(trx, pending.credit_account_id);
  const amount = pending.amount;
  const post = action === 'post';
  await trx
    .updateTable('ledger_accounts')
    .set((eb) => ({ debits_pending: eb('debits_pending', '-', amount), ...(post ? { debits_posted: eb('debits_posted', '+', amount) } : {}) }))
    .where('id', '=', pending.debit_account_id)
    .execute();
  await trx
    .updateTable('ledger_accounts')
    .set((eb) => ({ credits_pending: eb('credits_pending', '-', amount), ...(post ? { credits_posted: eb('credits_posted', '+', amount) } : {}) }))
    .where('id', '=', pending.credit_account_id)
    .execute();
  await append(trx, head, {
    id: `${action}:${pendingId}`,
    debit_account_id: pending.debit_account_id,
    credit_account_id: pending.credit_account_id,
    amount,
    kind: action,
    pending_id: pendingId,
    code,
    job_id: pending.job_id,
    attempt_id: pending.attempt_id,
    timeout_at: null,
    memo: null,
  });
  await trx.deleteFrom('transfers_pending').where('id', '=', pendingId).execute();
  return { applied: true };
}

/** Voids pending transfers whose timeout has passed (the sweeper calls it). */
export async function expirePending(db: Db, now = new Date(), resolveOne: (pendingId: string) => Promise<unknown>): Promise<number> {
  const due = await db.selectFrom('transfers_pending').select('id').where('timeout_at', '<', now).limit(500).execute();
  for (const { id } of due) await resolveOne(id);
  return due.length;
}

export interface Audit {
  /** Accounts whose cached sums disagree with their transfers. */
  mismatched: string[];
  /** Non-system accounts below zero (the CHECK makes this impossible; the audit proves it). */
  negative: string[];
  /** Pending transfers resolved more than once (the unique index makes it impossible). */
  resolvedTwice: string[];
  /** µcr in circulation: minted (out of the treasury) less burned (into it). */
  supply: number;
  minted: number;
  burned: number;
  /** Sum of every account's posted balance: 0 in a double-entry ledger. */
  total: number;
}

/**
 * Recomputes every account's sums from the transfers and compares them with the cache.
 * One pass in SQL; what it proves is in `Audit`.
 */
export async function auditLedger(db: Db | Trx): Promise<Audit> {
  const { rows } = await sql<{
    id: string;
    kind: string;
    debits_pending: number;
    debits_posted: number;
    credits_pending: number;
    credits_posted: number;
    dpe: number;
    dpo: number;
    cpe: number;
    cpo: number;
  }>`
    with legs as (
      select t.debit_account_id as account, t.amount,
             case when t.kind = 'pending' then t.amount else 0 end as pend_open,
             case when t.kind in ('single', 'post') then t.amount else 0 end as posted,
             case when t.kind in ('post', 'void') then t.amount else 0 end as pend_closed,
             'd' as side
      from transfers t
      union all
      select t.credit_account_id, t.amount,
             case when t.kind = 'pending' then t.amount else 0 end,
             case when t.kind in ('single', 'post') then t.amount else 0 end,
             case when t.kind in ('post', 'void') then t.amount else 0 end,
             'c'
      from transfers t
    ), sums as (
      select account,
        coalesce(sum(pend_open - pend_closed) filter (where side = 'd'), 0)::int8 as dpe,
        coalesce(sum(posted) filter (where side = 'd'), 0)::int8 as dpo,
        coalesce(sum(pend_open - pend_closed) filter (where side = 'c'), 0)::int8 as cpe,
        coalesce(sum(posted) filter (where side = 'c'), 0)::int8 as cpo
      from legs group by account
    )
    select a.id, a.kind, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted,
           coalesce(s.dpe, 0)::int8 as dpe, coalesce(s.dpo, 0)::int8 as dpo, coalesce(s.cpe, 0)::int8 as cpe, coalesce(s.cpo, 0)::int8 as cpo
    from ledger_accounts a left join sums s on s.account = a.id`.execute(db);
  const audit: Audit = { mismatched: [], negative: [], resolvedTwice: [], supply: 0, minted: 0, burned: 0, total: 0 };
  for (const r of rows) {
    if (r.debits_pending !== r.dpe || r.debits_posted !== r.dpo || r.credits_pending !== r.cpe || r.credits_posted !== r.cpo) audit.mismatched.push(r.id);
    if (r.kind !== 'system' && r.cpo - r.dpo - r.dpe < 0) audit.negative.push(r.id);
    audit.total += r.cpo - r.dpo;
    if (r.id === treasury) {
      audit.minted = r.dpo;
      audit.burned = r.cpo;
      audit.supply = r.dpo - r.cpo;
    }
  }
  const twice = await db.selectFrom('transfers').select('pending_id').where('pending_id', 'is not', null).groupBy('pending_id').having((eb) => eb.fn.countAll(), '>', 1).execute();
  audit.resolvedTwice = twice.map((r) => r.pending_id!);
  return audit;
}
