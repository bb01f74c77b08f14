import { sql } from 'kysely';
import { randomSecret } from '../auth/secrets.ts';
import { inTransaction, type Db, type Trx } from '../db/index.ts';
import type { UnitPayload } from '../protocol/messages.ts';
import { AppError } from '../errors.ts';
import { reservePay, settlePays } from '../ledger/payments.ts';
import { agingSeconds } from '../market/price.ts';
import { chooseLone } from '../verify/adaptive.ts';
import { claimKnownAnswer } from '../verify/known-answer.ts';
import { isQuarantined, recordExpired } from '../verify/reputation.ts';

export interface LeaseHolder {
  nodeId: string;
  /** The account id, or `anon:<node id>`: never two replicas of one unit to one holder. */
  holder: string;
  gflops: number;
  /** Its network (nodes/prefix.ts): never two replicas of one unit from one network. */
  prefix: string | null;
  /** The least µcr per TFLOP it works for: it gets only units of jobs that bid as much. */
  ask: number;
}

export interface Lease {
  attemptId: string;
  token: string;
  deadline: Date;
  unit: UnitPayload;
}

/** A lease lasts at least `leaseTtlMs`, and 3× the unit's expected run time at the node's
 * calibrated speed (floored at 0.05 GFLOP/s, so a node claiming 0 cannot hold work forever). */
export function leaseMs(flops: number, gflops: number, leaseTtlMs: number): number {
  return Math.max(leaseTtlMs, Math.ceil((3 * flops) / (Math.max(gflops, 0.05) * 1e6)));
}

/** How far past the head of the queue a claim may land (see claimUnit). */
export const claimSpread = 16;

/**
 * Claims one unit for a node, or null when none fits. Highest priority first — a job's bid,
 * doubled for every `agingSeconds` it has waited, so a low bid is served later but never
 * starves — then unit order, but at a random place among the first `claimSpread` units of the job that
 * comes first (never a lower-priority job's unit before a higher one's): with a strict order, two
 * nodes that ask at once always get the two replicas of one unit, which is exactly what a
 * colluding pair wants. (Chaos run, 50 agents, replicate: strict order let a colluding pair
 * verify 3-4 wrong units of 800; see tests/chaos.)
 * `for update of u skip locked`: concurrent claimers (other sockets, other coordinator
 * processes) pass over a unit being claimed instead of waiting on it; inside the lock,
 * the count of live attempts is exact because attempts are only added under it.
 */
export async function claimUnit(db: Db, who: LeaseHolder, leaseTtlMs: number): Promise<Lease | null> {
  if (await isQuarantined(db, who.nodeId)) return null;
  return inTransaction(db, async (trx) => {
    const known = await claimKnownAnswer(trx, who, leaseTtlMs);
    if (known) return known;
    // An account's lease reserves its pay in the job's escrow, topped up from the owner's wallet
    // when verification needs more than the estimate (server/ledger/payments.ts); a job whose
    // owner cannot cover the unit waits. Anonymous nodes earn nothing.
    const anonymous = who.holder.startsWith('anon:');
    const found = (offset: number, jobId: string | null = null) => sql<{ id: string; job_id: string; kind: string; params: Record<string, unknown>; inputs: string[]; flops: number; verification: string; replication: number; bid: number }>`
      select u.id, u.job_id, j.kind, u.params, u.inputs, u.flops, j.verification, j.replication, j.bid
      from units u join jobs j on j.id = u.job_id
      where u.state = 'pending' and j.state in ('queued', 'running')
        and (select count(*) from attempts a where a.unit_id = u.id
             and (a.state = 'returned' or (a.state = 'leased' and a.deadline > now()))) < u.replicas
        and not exists (select 1 from attempts a where a.unit_id = u.id and a.holder = ${who.holder}
             and a.state in ('leased', 'returned', 'valid', 'invalid'))
        and (${who.prefix}::text is null or not exists (select 1 from attempts a where a.unit_id = u.id
             and a.prefix = ${who.prefix} and a.state in ('leased', 'returned', 'valid')))
        and j.bid >= ${who.ask}
        and (${jobId}::uuid is null or j.id = ${jobId}::uuid)
        and (${anonymous}
             or (select coalesce(sum(e.credits_posted - e.debits_posted - e.debits_pending), 0) from ledger_accounts e
                 where e.id in ('escrow:' || j.id::text, 'user:' || j.account_id::text))
                >= ceil(u.flops::numeric * j.bid / 1e12))
      order by j.bid * power(2, least(extract(epoch from now() - j.created_at) / ${agingSeconds}, 60)) desc, j.created_at, u.idx
      limit 1 offset ${offset}
      for update of u skip locked`.execute(trx);
    const top = (await found(0)).rows[0];
    if (!top) return null;
    const spread = Math.floor(Math.random() * claimSpread);
    const unit = spread ? ((await found(spread, top.job_id)).rows[0] ?? top) : top;
    const lone = unit.verification === 'replicate' && (await chooseLone(trx, unit, who.nodeId));
    await trx.updateTable('jobs').set({ state: 'running', updated_at: new Date() }).where('id', '=', unit.job_id).where('state', '=', 'queued').execute();
    const payload = { id: unit.id, jobId: unit.job_id, kind: unit.kind, params: unit.params, inputs: unit.inputs, flops: unit.flops };
    const lease = await insertLease(trx, who, payload, leaseTtlMs, { lone });
    await reservePay(trx, { attemptId: lease.attemptId, holder: who.holder, jobId: unit.job_id, flops: unit.flops, bid: unit.bid });
    return lease;
  }).catch((err) => {
    // Another claim spent the escrow between the query and the reservation: nothing leased.
    if (err instanceof AppError && err.status === 402) return null;
    throw err;
  });
}

/** Leases `unit` to `who` as a new attempt. */
export async function insertLease(trx: Trx, who: LeaseHolder, unit: UnitPayload, leaseTtlMs: number, flags: { lone?: boolean; known?: boolean } = {}): Promise<Lease> {
  const token = randomSecret(16);
  const deadline = new Date(Date.now() + leaseMs(unit.flops, who.gflops, leaseTtlMs));
  const attempt = await trx
    .insertInto('attempts')
    .values({ unit_id: unit.id, node_id: who.nodeId, holder: who.holder, token, state: 'leased', deadline, prefix: who.prefix, ...flags })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { attemptId: attempt.id, token, deadline, unit };
}

/** Extends the deadlines of a node's live leases by `leaseTtlMs` from now. */
export async function extendLeases(db: Db, nodeId: string, attemptIds: string[], leaseTtlMs: number) {
  await db.updateTable('nodes').set({ last_seen_at: new Date() }).where('id', '=', nodeId).execute();
  if (attemptIds.length === 0) return;
  await db
    .updateTable('attempts')
    .set({ deadline: sql`greatest(deadline, now() + ${`${leaseTtlMs} milliseconds`}::interval)` })
    .where('id', 'in', attemptIds)
    .where('node_id', '=', nodeId)
    .where('state', '=', 'leased')
    .execute();
}

/** leased ─deadline passed─▶ expired, counted against the nodes. Returns how many lapsed. */
export async function expireLeases(db: Db): Promise<number> {
  return inTransaction(db, async (trx) => {
    const rows = await trx
      .updateTable('attempts')
      .set({ state: 'expired', error: 'the lease ran out before a result came' })
      .where('state', '=', 'leased')
      .where('deadline', '<', sql<Date>`now()`)
      .returning('id')
      .execute();
    await recordExpired(trx, rows.map((r) => r.id));
    await settlePays(trx, { attemptIds: rows.map((r) => r.id) });
    return rows.length;
  });
}
