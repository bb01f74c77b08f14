import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import { toCredits } from './credit.ts';
import { balanceOf, escrowAccount, userAccount, type LedgerAccountRow, type TransferRow } from './ledger.ts';

const empty = { debits_pending: 0, debits_posted: 0, credits_pending: 0, credits_posted: 0 };

/** A person's wallet in credits: what they may spend, what is on its way in or out, what they earned. */
export async function walletOf(db: Db, accountId: string) {
  const id = userAccount(accountId);
  const account = (await db.selectFrom('ledger_accounts').selectAll().where('id', '=', id).executeTakeFirst()) ?? { ...empty, earned: 0 };
  const b = balanceOf(account);
  return { available: toCredits(b.available), posted: toCredits(b.posted), pendingIn: toCredits(b.pendingIn), pendingOut: toCredits(b.pendingOut), earned: toCredits(account.earned) };
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
    // Written out, not a parameter: a plan made for any code could not use the refunds' index.
    .where(sql<boolean>`code = 'refund'`)
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

/** A line of an account's credit history as a person reads it: a job's work or spending in one line, not two rows a unit. */
export interface HistoryEntry {
  kind: 'earned' | 'spent' | 'grant' | 'transfer' | 'mint' | 'vetting';
  title: string;
  /** Credits, signed: in is positive. */
  amount: number;
  /** Reserved for it, not settled yet: pay for work awaiting its check, or escrow a running job still holds. */
  pending: number;
  units: number | null;
  jobId: string | null;
  at: Date;
}

/**
 * The account's history, grouped (#21: two rows a unit, ~100 in 30 s, meant nothing): each job
 * it worked on is one line (verified pay, still pending, units), each job of its own one line
 * (escrowed less returned), and grants, mints and transfers one line each with their
 * counterparty. Voided reservations net out: they never reach the wallet.
 */
export async function historyOf(db: Db, accountId: string, limit = 100): Promise<HistoryEntry[]> {
  const me = userAccount(accountId);
  const grouped = await db
    .selectFrom('transfers as t')
    .leftJoin('jobs as j', 'j.id', 't.job_id')
    .select([
      't.job_id',
      't.code',
      't.kind',
      sql<boolean>`t.credit_account_id = ${me}`.as('incoming'),
      sql<string>`sum(t.amount)`.as('amount'),
      sql<number>`count(distinct t.attempt_id)::int`.as('attempts'),
      sql<Date>`max(t.created_at)`.as('at'),
      'j.kind as job_kind',
      'j.name as job_name',
      'j.state as job_state',
      sql<boolean>`coalesce(j.account_id = ${accountId}, false)`.as('mine'),
    ])
    .where((eb) => eb.or([eb('t.debit_account_id', '=', me), eb('t.credit_account_id', '=', me)]))
    .where('t.job_id', 'is not', null)
    .groupBy(['t.job_id', 't.code', 't.kind', sql`t.credit_account_id = ${me}`, 'j.kind', 'j.name', 'j.state', 'j.account_id'])
    .execute();
  const jobs = new Map<string, { rows: typeof grouped; at: Date }>();
  for (const r of grouped) {
    const job = jobs.get(r.job_id!) ?? { rows: [], at: r.at };
    job.rows.push(r);
    if (r.at > job.at) job.at = r.at;
    jobs.set(r.job_id!, job);
  }
  const sum = (rows: typeof grouped, f: (r: (typeof grouped)[number]) => boolean) => rows.filter(f).reduce((s, r) => s + Number(r.amount), 0);
  const entries: HistoryEntry[] = [];
  for (const [jobId, { rows, at }] of jobs) {
    const first = rows[0]!;
    const named = first.job_name ? `"${first.job_name}" (${first.job_kind})` : `${first.job_kind} ${jobId.slice(0, 8)}`;
    // Pay for this account's verified work: reserved as its result came (pending), then posted
    // when verified or voided when not; what is reserved and neither is still pending.
    const paid = rows.filter((r) => r.incoming && r.code !== 'refund' && r.code !== 'escrow');
    if (paid.length) {
      const posted = sum(paid, (r) => r.kind === 'post' || r.kind === 'single');
      const reserved = sum(paid, (r) => r.kind === 'pending') - posted - sum(paid, (r) => r.kind === 'void');
      const units = Math.max(0, ...paid.filter((r) => r.kind === 'pending' || r.kind === 'single').map((r) => r.attempts));
      entries.push({ kind: 'earned', title: `Verified work on ${first.mine ? `your job ${named}` : `a ${first.job_kind} job`}`, amount: toCredits(posted), pending: toCredits(Math.max(0, reserved)), units, jobId, at });
    }
    if (first.mine) {
      const escrowed = sum(rows, (r) => r.code === 'escrow' && !r.incoming);
      const returned = sum(rows, (r) => r.code === 'refund' && r.incoming);
      if (escrowed) {
        const running = first.job_state === 'queued' || first.job_state === 'running';
        entries.push({ kind: 'spent', title: `Your job ${named}${running ? ', still running' : ''}`, amount: -toCredits(escrowed - returned), pending: running ? toCredits(escrowed - returned) : 0, units: null, jobId, at });
      }
    }
  }
  const single = await db
    .selectFrom('transfers as t')
    .leftJoin('ledger_accounts as la', (join) => join.on(sql`la.id`, '=', sql`case when t.credit_account_id = ${me} then t.debit_account_id else t.credit_account_id end`))
    .leftJoin('accounts as a', 'a.id', 'la.account_id')
    .select(['t.code', 't.amount', 't.memo', 't.created_at', sql<boolean>`t.credit_account_id = ${me}`.as('incoming'), 'a.email'])
    .where((eb) => eb.or([eb('t.debit_account_id', '=', me), eb('t.credit_account_id', '=', me)]))
    .where('t.job_id', 'is', null)
    .where('t.kind', 'in', ['single', 'post'])
    .orderBy('t.seq', 'desc')
    .limit(limit)
    .execute();
  for (const t of single) {
    const amount = toCredits(t.incoming ? t.amount : -t.amount);
    const memo = t.memo ? ` — ${t.memo}` : '';
    const kind = (['grant', 'transfer', 'mint', 'vetting'] as const).find((k) => k === t.code) ?? 'transfer';
    const title =
      t.code === 'grant' ? 'Welcome credits' : t.code === 'mint' ? `Credits from the treasury${memo}` : t.code === 'vetting' ? 'Checking a newcomer\'s work (paid by the network)' : `${t.incoming ? 'From' : 'To'} ${t.email ?? 'another account'}${memo}`;
    entries.push({ kind, title, amount, pending: 0, units: null, jobId: null, at: t.created_at });
  }
  return entries.sort((a, b) => b.at.getTime() - a.at.getTime()).slice(0, limit);
}

/**
 * An account's last `days` days (UTC), a row a day, oldest first, days with nothing included:
 * credits earned by its nodes (verified work, as its wallet counts it) and the units behind them,
 * credits its jobs paid out for verified work, and jobs it submitted. The portal's usage chart and
 * the contribute page's daily history. Reads the window's transfers once (an index on
 * transfers.created_at would bound it on a busy network; noted in #21's closing note).
 */
export async function usageOf(db: Db, accountId: string, days: number) {
  const me = userAccount(accountId);
  const from = new Date(Date.now() - (days - 1) * 86_400_000);
  from.setUTCHours(0, 0, 0, 0);
  const money = await sql<{ day: string; earned: string | number; units: number; spent: string | number }>`
    select to_char(t.created_at at time zone 'UTC', 'YYYY-MM-DD') as day,
      coalesce(sum(t.amount) filter (where t.credit_account_id = ${me} and ((t.kind = 'post' and t.code = 'verified') or t.code = 'vetting')), 0) as earned,
      count(distinct t.attempt_id) filter (where t.credit_account_id = ${me} and ((t.kind = 'post' and t.code = 'verified') or t.code = 'vetting'))::int as units,
      coalesce(sum(t.amount) filter (where j.account_id = ${accountId} and t.kind = 'post' and t.code = 'verified'), 0) as spent
    from transfers t left join jobs j on j.id = t.job_id
    where t.created_at >= ${from} and (t.credit_account_id = ${me} or j.account_id = ${accountId})
    group by 1`.execute(db);
  const jobs = await sql<{ day: string; n: number }>`
    select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD') as day, count(*)::int as n
    from jobs where account_id = ${accountId} and created_at >= ${from} group by 1`.execute(db);
  const byDay = new Map(money.rows.map((r) => [r.day, r]));
  const jobsByDay = new Map(jobs.rows.map((r) => [r.day, r.n]));
  return Array.from({ length: days }, (_, i) => {
    const day = new Date(from.getTime() + i * 86_400_000).toISOString().slice(0, 10);
    const m = byDay.get(day);
    return { day, earned: toCredits(Number(m?.earned ?? 0)), unitsVerified: m?.units ?? 0, spent: toCredits(Number(m?.spent ?? 0)), jobs: jobsByDay.get(day) ?? 0 };
  });
}
