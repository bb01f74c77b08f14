import type { Db } from '../db/index.ts';
import { toCredits } from './credit.ts';
import { balanceOf, escrowAccount, userAccount, type LedgerAccountRow, type TransferRow } from './ledger.ts';

const empty = { debits_pending: 0, debits_posted: 0, credits_pending: 0, credits_posted: 0 };

/** A person's wallet in credits: what they may spend, what is on its way in or out, what they earned. */
export async function walletOf(db: Db, accountId: string) {
  const id = userAccount(accountId);
  const account = (await db.selectFrom('ledger_accounts').selectAll().where('id', '=', id).executeTakeFirst()) ?? empty;
  const earned = await db
    .selectFrom('transfers')
    .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('amount'), eb.lit(0)).as('sum'))
    .where('credit_account_id', '=', id)
    .where((eb) => eb.or([eb.and([eb('kind', '=', 'post'), eb('code', '=', 'verified')]), eb('code', '=', 'vetting')]))
    .executeTakeFirstOrThrow();
  const b = balanceOf(account);
  return { available: toCredits(b.available), posted: toCredits(b.posted), pendingIn: toCredits(b.pendingIn), pendingOut: toCredits(b.pendingOut), earned: toCredits(Number(earned.sum)) };
}

/** A job's money in credits: escrowed, paid out, reserved for leases and results in flight, refunded. */
export function escrowView(job: { escrow: number }, account: Pick<LedgerAccountRow, 'debits_pending' | 'debits_posted' | 'credits_pending' | 'credits_posted'> | undefined, refunded: number) {
  const a = account ?? empty;
  return {
    escrowed: toCredits(job.escrow),
    paid: toCredits(a.debits_posted - refunded),
    pending: toCredits(a.debits_pending),
    refunded: toCredits(refunded),
    left: toCredits(balanceOf(a).available),
  };
}

/** Escrow accounts and refunds of these jobs, for their views. */
export async function escrowsOf(db: Db, jobIds: string[]): Promise<Map<string, { account: LedgerAccountRow | undefined; refunded: number }>> {
  if (!jobIds.length) return new Map();
  const ids = jobIds.map(escrowAccount);
  const accounts = await db.selectFrom('ledger_accounts').selectAll().where('id', 'in', ids).execute();
  const refunds = await db
    .selectFrom('transfers')
    .select(['debit_account_id', (eb) => eb.fn.sum<number>('amount').as('sum')])
    .where('debit_account_id', 'in', ids)
    .where('code', '=', 'refund')
    .groupBy('debit_account_id')
    .execute();
  const byId = new Map(accounts.map((a) => [a.id, a]));
  const refunded = new Map(refunds.map((r) => [r.debit_account_id, Number(r.sum)]));
  return new Map(jobIds.map((id) => [id, { account: byId.get(escrowAccount(id)), refunded: refunded.get(escrowAccount(id)) ?? 0 }]));
}

/** A transfer as the API shows it, from the point of view of `me` (a ledger account id). */
export function transferView(t: TransferRow, me: string) {
  const incoming = t.credit_account_id === me;
  return {
    id: t.id,
    seq: t.seq,
    kind: t.kind,
    code: t.code,
    direction: incoming ? 'in' : 'out',
    counterparty: incoming ? t.debit_account_id : t.credit_account_id,
    amount: toCredits(t.amount),
    pendingId: t.pending_id,
    jobId: t.job_id,
    attemptId: t.attempt_id,
    memo: t.memo,
    at: t.created_at,
  };
}
