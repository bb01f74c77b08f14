import { sql, type RawBuilder, type Selectable } from 'kysely';
import type { Db, Trx } from '../db/index.ts';
import type { Database } from '../db/schema.ts';
import { AppError, conflict, notFound } from '../errors.ts';
import { transferHash } from './chain.ts';
import { showCredits, toCredits } from './credit.ts';

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
  await openAccounts(db, [{ id, kind, ...owner }]);
}

/** openAccount for several, in one statement. */
export async function openAccounts(db: Db | Trx, accounts: { id: string; kind: 'user' | 'escrow'; accountId?: string; jobId?: string }[]) {
  if (!accounts.length) return;
  await db
    .insertInto('ledger_accounts')
    .values(accounts.map((a) => ({ id: a.id, kind: a.kind, account_id: a.accountId ?? null, job_id: a.jobId ?? null })))
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

/** The head each transaction locked, as its writes moved it: locked once per transaction. */
const heads = new WeakMap<Trx, { seq: number; hash: string }>();

/**
 * Takes the ledger's lock for a read-then-write (ledger writes take it themselves): once per
 * transaction, the first time (a result batch settles pays several times; each lock was a
 * statement, and the store's statements are most of a unit's cost).
 */
export async function lockHead(trx: Trx): Promise<{ seq: number; hash: string }> {
  let head = heads.get(trx);
  if (!head) heads.set(trx, (head = await trx.selectFrom('ledger_head').select(['seq', 'hash']).forUpdate().executeTakeFirstOrThrow()));
  return head;
}

type NewTransfer = Omit<TransferRow, 'seq' | 'prev_hash' | 'hash' | 'created_at'>;

/** A transfer its credit account earned by: a pay posted for verified work, or a vetting pay (ledger_accounts.earned). */
export const earns = (t: { kind: string; code: string }) => (t.kind === 'post' && t.code === 'verified') || t.code === 'vetting';
/** `earns` in SQL, of a transfer `t`. */
export const earning = sql<boolean>`((t.kind = 'post' and t.code = 'verified') or t.code = 'vetting')`;

/**
 * A batch's writes in one statement: the accounts' sums, the new rows (each linked to the one
 * before, from the head), the head moved once, and the index of open pending transfers (rows
 * opened, and `closed` resolved). Data-modifying parts of one WITH statement; the foreign key
 * of a pending row on its transfer is checked at the statement's end, when both exist.
 * (Four statements before: a batch's ledger cost 9-10 statements, a third of a unit's.)
 */
async function write(trx: Trx, head: { seq: number; hash: string }, deltas: Map<string, Sums>, rows: NewTransfer[], closed: string[]): Promise<TransferRow[]> {
  const now = new Date();
  let { seq, hash } = head;
  const linked: TransferRow[] = rows.map((row) => {
    const full = { ...row, seq: ++seq, created_at: now, prev_hash: hash };
    hash = transferHash(hash, full);
    return { ...full, hash };
  });
  const parts: RawBuilder<unknown>[] = [];
  // What the accounts earned (each such transfer also moves its credit account's sums, so the account is among `changed`).
  const earned = new Map<string, number>();
  for (const t of linked) if (earns(t)) earned.set(t.credit_account_id, (earned.get(t.credit_account_id) ?? 0) + t.amount);
  const changed = [...deltas].filter(([, d]) => d.debits_pending || d.debits_posted || d.credits_pending || d.credits_posted);
  if (changed.length) {
    const values = sql.join(changed.map(([id, d]) => sql`(${id}::text, ${d.debits_pending}::int8, ${d.debits_posted}::int8, ${d.credits_pending}::int8, ${d.credits_posted}::int8, ${earned.get(id) ?? 0}::int8)`));
    parts.push(sql`update ledger_accounts a set debits_pending = a.debits_pending + v.dpe, debits_posted = a.debits_posted + v.dpo,
        credits_pending = a.credits_pending + v.cpe, credits_posted = a.credits_posted + v.cpo, earned = a.earned + v.ear
      from (values ${values}) as v(id, dpe, dpo, cpe, cpo, ear) where a.id = v.id`);
  }
  if (linked.length) {
    parts.push(sql`insert into transfers (seq, id, debit_account_id, credit_account_id, amount, kind, pending_id, code, job_id, attempt_id, timeout_at, memo, created_at, prev_hash, hash)
      values ${sql.join(linked.map((t) => sql`(${t.seq}, ${t.id}, ${t.debit_account_id}, ${t.credit_account_id}, ${t.amount}, ${t.kind}, ${t.pending_id}, ${t.code}, ${t.job_id}, ${t.attempt_id}, ${t.timeout_at}, ${t.memo}, ${t.created_at}, ${t.prev_hash}, ${t.hash})`))}`);
    parts.push(sql`update ledger_head set seq = ${seq}, hash = ${hash}`);
  }
  const opened = linked.filter((r) => r.kind === 'pending');
  if (opened.length) parts.push(sql`insert into transfers_pending (id, timeout_at, job_id, attempt_id) values ${sql.join(opened.map((r) => sql`(${r.id}, ${r.timeout_at}, ${r.job_id}, ${r.attempt_id})`))}`);
  if (closed.length) parts.push(sql`delete from transfers_pending where id in (${sql.join(closed)})`);
  if (!parts.length) return [];
  const last = parts.pop()!;
  await (parts.length ? sql`with ${sql.join(parts.map((part, i) => sql`${sql.raw(`w${i}`)} as (${part})`))} ${last}` : last).execute(trx);
  head.seq = seq;
  head.hash = hash;
  return linked;
}

/** Locks these accounts (in id order, one statement); 404 for one that does not exist. */
async function lockAccounts(trx: Trx, ids: string[]): Promise<Map<string, LedgerAccountRow>> {
  const unique = [...new Set(ids)].sort();
  if (!unique.length) return new Map();
  const rows = await trx.selectFrom('ledger_accounts').selectAll().where('id', 'in', unique).orderBy('id').forUpdate().execute();
  const byId = new Map(rows.map((r) => [r.id, r]));
  const missing = unique.find((id) => !byId.has(id));
  if (missing) throw notFound(`No ledger account ${missing}.`);
  return byId;
}

type Sums = Pick<LedgerAccountRow, 'debits_pending' | 'debits_posted' | 'credits_pending' | 'credits_posted'>;

/** Tracks the sums as a batch moves them, so each step sees the steps before it. */
function sumsKeeper(accounts: Map<string, LedgerAccountRow>) {
  const deltas = new Map<string, Sums>();
  const delta = (id: string) => {
    let d = deltas.get(id);
    if (!d) deltas.set(id, (d = { debits_pending: 0, debits_posted: 0, credits_pending: 0, credits_posted: 0 }));
    return d;
  };
  const now = (id: string): LedgerAccountRow => {
    const a = accounts.get(id)!;
    const d = delta(id);
    return { ...a, debits_pending: a.debits_pending + d.debits_pending, debits_posted: a.debits_posted + d.debits_posted, credits_pending: a.credits_pending + d.credits_pending, credits_posted: a.credits_posted + d.credits_posted };
  };
  return { deltas, delta, now };
}

/**
 * Creates a transfer, or returns the one that already has this id. Throws 402 when the debit
 * account (other than the treasury) cannot cover it, 409 when the id was used for another.
 */
export async function transfer(trx: Trx, spec: TransferSpec): Promise<{ created: boolean; transfer: TransferRow }> {
  return (await transferMany(trx, [spec]))[0]!;
}

/**
 * Transfers in order, as `transfer` one after another would make them (each sees the balances
 * the ones before it left), in a fixed number of statements however many there are: the head
 * and the accounts locked once, one write (see `write`). Throws on the first that fails (402,
 * 409); the caller's transaction then writes none of them.
 *
 * `fresh`: the caller made the ids just now (a pay named by a new attempt), so no earlier
 * transfer is looked for (a clash would still fail on the unique id). `accounts`: the accounts
 * the caller already locked in this transaction, with the balances it read.
 */
export async function transferMany(trx: Trx, specs: TransferSpec[], given: { fresh?: boolean; accounts?: Map<string, LedgerAccountRow> } = {}): Promise<{ created: boolean; transfer: TransferRow }[]> {
  for (const spec of specs) {
    if (!Number.isSafeInteger(spec.amount) || spec.amount <= 0) throw new AppError(400, 'bad_amount', 'A transfer moves a positive whole number of µcr.');
    if (spec.debit === spec.credit) throw new AppError(400, 'same_account', 'A transfer needs two different accounts.');
  }
  if (!specs.length) return [];
  const head = await lockHead(trx);
  const existing = new Map(given.fresh ? [] : (await trx.selectFrom('transfers').selectAll().where('id', 'in', specs.map((s) => s.id)).execute()).map((t) => [t.id, t]));
  const accounts = given.accounts ?? (await lockAccounts(trx, specs.flatMap((s) => (existing.has(s.id) ? [] : [s.debit, s.credit]))));
  const sums = sumsKeeper(accounts);
  const out: { created: boolean; transfer: TransferRow | null }[] = [];
  const fresh: NewTransfer[] = [];
  for (const spec of specs) {
    const before = existing.get(spec.id);
    if (before) {
      if (!sameFields(before, spec)) throw conflict(`A transfer with id "${spec.id}" already exists with other fields: use a new idempotency key for a new transfer.`);
      out.push({ created: false, transfer: before.seq === undefined ? null : before });
      continue;
    }
    const debit = sums.now(spec.debit);
    if (debit.kind !== 'system' && balanceOf(debit).available < spec.amount) {
      throw insufficient(`Not enough credits: that needs ${showCredits(spec.amount)} credits and ${showCredits(Math.max(0, balanceOf(debit).available))} are available.`);
    }
    const pending = !!spec.pending;
    if (pending) {
      sums.delta(spec.debit).debits_pending += spec.amount;
      sums.delta(spec.credit).credits_pending += spec.amount;
    } else {
      sums.delta(spec.debit).debits_posted += spec.amount;
      sums.delta(spec.credit).credits_posted += spec.amount;
    }
    const row = {
      id: spec.id,
      debit_account_id: spec.debit,
      credit_account_id: spec.credit,
      amount: spec.amount,
      kind: pending ? ('pending' as const) : ('single' as const),
      pending_id: null,
      code: spec.code,
      job_id: spec.jobId ?? null,
      attempt_id: spec.attemptId ?? null,
      timeout_at: pending ? (spec.timeoutAt ?? null) : null,
      memo: spec.memo ?? null,
    };
    existing.set(spec.id, row as TransferRow); // the same id twice in one batch: the second is a repeat (no seq yet)
    fresh.push(row);
    out.push({ created: true, transfer: null });
  }
  const rows = new Map((await write(trx, head, sums.deltas, fresh, [])).map((r) => [r.id, r]));
  return out.map((o, i) => ({ created: o.created, transfer: o.transfer ?? rows.get(specs[i]!.id)! }));
}

/**
 * Moves everything `from` has available to `to` (a job's unspent escrow back to its owner).
 * The first such transfer gets the id `id`; later ones (credits released into the escrow
 * after it, by a straggling void) `id:<seq>`. Returns the µcr moved.
 */
export async function transferAll(trx: Trx, spec: Omit<TransferSpec, 'amount' | 'pending'>): Promise<number> {
  const head = await lockHead(trx);
  const from = (await lockAccounts(trx, [spec.debit])).get(spec.debit)!;
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
  return (await resolveMany(trx, [{ pendingId, action, code }]))[0]!;
}

/** What resolving a pending transfer reads of it. */
export type PendingTransfer = Pick<TransferRow, 'id' | 'kind' | 'amount' | 'debit_account_id' | 'credit_account_id' | 'job_id' | 'attempt_id'>;
export const pendingColumns = ['id', 'kind', 'amount', 'debit_account_id', 'credit_account_id', 'job_id', 'attempt_id'] as const;

/**
 * `resolve` for many pending transfers, in a fixed number of statements (as transferMany).
 * `open`: the pending transfers as the caller read them from transfers_pending after taking the
 * head's lock in this transaction (settlePays) — open until this resolves them, so they are not
 * read again.
 */
export async function resolveMany(trx: Trx, resolutions: { pendingId: string; action: Resolution; code: string }[], open?: Map<string, PendingTransfer>): Promise<{ applied: boolean; already?: Resolution }[]> {
  if (!resolutions.length) return [];
  const head = await lockHead(trx);
  const ids = resolutions.map((r) => r.pendingId);
  const pendings: Map<string, PendingTransfer> = open ?? new Map((await trx.selectFrom('transfers').select(pendingColumns).where('id', 'in', ids).execute()).map((t) => [t.id, t]));
  const done = new Map(open ? [] : (await trx.selectFrom('transfers').select(['pending_id', 'kind']).where('pending_id', 'in', ids).execute()).map((t) => [t.pending_id!, t.kind as Resolution]));
  for (const id of ids) if (pendings.get(id)?.kind !== 'pending') throw notFound(`No pending transfer ${id}.`);
  // No balance is checked (a resolution only moves what the pending transfer reserved), so the
  // accounts are not read: the write's update locks them, under the head's lock.
  const sums = sumsKeeper(new Map());
  const out: { applied: boolean; already?: Resolution }[] = [];
  const rows: NewTransfer[] = [];
  for (const { pendingId, action, code } of resolutions) {
    const already = done.get(pendingId);
    if (already) {
      out.push({ applied: false, already });
      continue;
    }
    done.set(pendingId, action);
    const pending = pendings.get(pendingId)!;
    const { amount } = pending;
    const post = action === 'post';
    const debit = sums.delta(pending.debit_account_id);
    const credit = sums.delta(pending.credit_account_id);
    debit.debits_pending -= amount;
    credit.credits_pending -= amount;
    if (post) {
      debit.debits_posted += amount;
      credit.credits_posted += amount;
    }
    rows.push({
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
    out.push({ applied: true });
  }
  await write(trx, head, sums.deltas, rows, rows.map((r) => r.pending_id!));
  return out;
}

/** Voids pending transfers whose timeout has passed (the sweeper calls it). */
export async function expirePending(db: Db, now = new Date(), resolveOne: (pendingId: string) => Promise<unknown>): Promise<number> {
  const due = await db.selectFrom('transfers_pending').select('id').where('timeout_at', '<', now).limit(500).execute();
  for (const { id } of due) await resolveOne(id);
  return due.length;
}

export interface Audit {
  /** Accounts whose cached sums (balances, and what they earned) disagree with their transfers. */
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
    earned: number;
    dpe: number;
    dpo: number;
    cpe: number;
    cpo: number;
    ear: number;
  }>`
    with legs as (
      select t.debit_account_id as account, t.amount,
             case when t.kind = 'pending' then t.amount else 0 end as pend_open,
             case when t.kind in ('single', 'post') then t.amount else 0 end as posted,
             case when t.kind in ('post', 'void') then t.amount else 0 end as pend_closed,
             0::int8 as earned,
             'd' as side
      from transfers t
      union all
      select t.credit_account_id, t.amount,
             case when t.kind = 'pending' then t.amount else 0 end,
             case when t.kind in ('single', 'post') then t.amount else 0 end,
             case when t.kind in ('post', 'void') then t.amount else 0 end,
             case when ${earning} then t.amount else 0 end,
             'c'
      from transfers t
    ), sums as (
      select account,
        coalesce(sum(pend_open - pend_closed) filter (where side = 'd'), 0)::int8 as dpe,
        coalesce(sum(posted) filter (where side = 'd'), 0)::int8 as dpo,
        coalesce(sum(pend_open - pend_closed) filter (where side = 'c'), 0)::int8 as cpe,
        coalesce(sum(posted) filter (where side = 'c'), 0)::int8 as cpo,
        coalesce(sum(earned), 0)::int8 as ear
      from legs group by account
    )
    select a.id, a.kind, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted, a.earned,
           coalesce(s.dpe, 0)::int8 as dpe, coalesce(s.dpo, 0)::int8 as dpo, coalesce(s.cpe, 0)::int8 as cpe, coalesce(s.cpo, 0)::int8 as cpo,
           coalesce(s.ear, 0)::int8 as ear
    from ledger_accounts a left join sums s on s.account = a.id`.execute(db);
  const audit: Audit = { mismatched: [], negative: [], resolvedTwice: [], supply: 0, minted: 0, burned: 0, total: 0 };
  for (const r of rows) {
    if (r.debits_pending !== r.dpe || r.debits_posted !== r.dpo || r.credits_pending !== r.cpe || r.credits_posted !== r.cpo || r.earned !== r.ear) audit.mismatched.push(r.id);
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
