import { sql } from 'kysely';
import { randomSecret } from '../auth/secrets.ts';
import { inTransaction, type Db, type Trx } from '../db/index.ts';
import type { UnitPayload } from '../protocol/messages.ts';
import { AppError } from '../errors.ts';
import { reservePay, settlePays } from '../ledger/payments.ts';
import { agingSeconds } from '../market/price.ts';
import { chooseLone } from '../verify/adaptive.ts';
import { dealPartners, redealLapsed } from '../verify/deal.ts';
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
  /** The workloads it runs (its hello's capabilities): it gets no unit of another kind. */
  kinds: string[];
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
/** Leases a node may always hold (one running, one fetched ahead), and never more than `holdMax`. */
export const holdMin = 2;
export const holdMax = 8;
/** Releases a node may make in an hour; past it, no new leases until the hour is over. */
export const releasesPerHourMax = 60;
/** A unit of a replicate job that a node released is not leased to it again from the queue for
 * this long (fishing for pairs; where each result is checked alone there is nothing to fish). */
export const releaseBarMs = 10 * 60_000;

type Candidate = { id: string; job_id: string; kind: string; params: Record<string, unknown>; inputs: string[]; flops: number; verification: string; replication: number; bid: number; partner_node: string | null };

/**
 * Bounded holdings: a node holds at most the leases its measured speed justifies for the lease
 * time — `holdMin` always, more while the FLOPs it holds would take it under `leaseTtlMs` at the
 * rate the coordinator measured from its results (never what it reports), `holdMax` at most.
 * Known-answer leases count. Also: no new lease for a node over its hourly releases.
 */
async function mayHoldMore(trx: Trx, nodeId: string, leaseTtlMs: number): Promise<boolean> {
  const held = await sql<{ n: number; flops: number }>`
    select count(*)::int as n, coalesce(sum(u.flops), 0)::float8 as flops from attempts a join units u on u.id = a.unit_id
    where a.node_id = ${nodeId} and a.state = 'leased' and a.deadline > now()`.execute(trx);
  const node = await trx.selectFrom('nodes').select(['rate_gflops', 'releases', 'releases_since']).where('id', '=', nodeId).executeTakeFirstOrThrow();
  if (node.releases >= releasesPerHourMax && Date.now() - node.releases_since.getTime() < 3600_000) return false;
  const { n, flops } = held.rows[0]!;
  return n < holdMin || (n < holdMax && flops / (node.rate_gflops * 1e9) < leaseTtlMs / 1000);
}

/**
 * Claims one unit for a node, or null when none fits. First a unit dealt to this node as a
 * partner (server/verify/deal.ts); otherwise a unit with no live replica from the queue: highest
 * priority first — a job's bid, doubled for every `agingSeconds` it has waited, so a low bid is
 * served later but never starves — then unit order, at a random place among the first
 * `claimSpread` units of the job that comes first. Further replicas are never taken from the
 * queue: they are dealt, so a node cannot pick its partner (the chaos run's colluding pairs
 * fished for shared units by asking, releasing and asking again).
 * `for update of u skip locked`: concurrent claimers (other sockets, other coordinator
 * processes) pass over a unit being claimed instead of waiting on it.
 */
export async function claimUnit(db: Db, who: LeaseHolder, leaseTtlMs: number): Promise<Lease | null> {
  if (await isQuarantined(db, who.nodeId)) return null;
  return inTransaction(db, async (trx) => {
    if (!(await mayHoldMore(trx, who.nodeId, leaseTtlMs))) return null;
    const known = await claimKnownAnswer(trx, who, leaseTtlMs);
    if (known) return known;
    // An account's lease reserves its pay in the job's escrow, topped up from the owner's wallet
    // when verification needs more than the estimate (server/ledger/payments.ts); a job whose
    // owner cannot cover the unit waits. Anonymous nodes earn nothing.
    const anonymous = who.holder.startsWith('anon:');
    const found = (dealt: boolean, offset: number, jobId: string | null = null) => sql<Candidate>`
      select u.id, u.job_id, j.kind, u.params, u.inputs, u.flops, j.verification, j.replication, j.bid, u.partner_node
      from units u join jobs j on j.id = u.job_id
      where u.state = 'pending' and j.state in ('queued', 'running')
        and ${dealt
          ? sql`u.partner_node = ${who.nodeId}`
          : sql`u.partner_node is null and not exists (select 1 from attempts a where a.unit_id = u.id and not a.known and not a.suspect
               and (a.state = 'returned' or (a.state = 'leased' and a.deadline > now())))
             and (j.verification <> 'replicate' or not exists (select 1 from attempts a where a.unit_id = u.id
               and a.node_id = ${who.nodeId} and a.released and a.created_at > now() - ${`${releaseBarMs} milliseconds`}::interval))`}
        and not exists (select 1 from attempts a where a.unit_id = u.id and a.holder = ${who.holder}
             and a.state in ('leased', 'returned', 'valid', 'invalid') and not a.known)
        and (${who.prefix}::text is null or not exists (select 1 from attempts a where a.unit_id = u.id
             and a.prefix = ${who.prefix} and a.state in ('leased', 'returned', 'valid') and not a.known))
        and j.bid >= ${who.ask}
        and j.kind in (${sql.join(who.kinds)})
        and (${jobId}::uuid is null or j.id = ${jobId}::uuid)
        and (${anonymous}
             or (select coalesce(sum(e.credits_posted - e.debits_posted - e.debits_pending), 0) from ledger_accounts e
                 where e.id in ('escrow:' || j.id::text, 'user:' || j.account_id::text))
                >= ceil(u.flops::numeric * j.bid / 1e12))
      order by j.bid * power(2, least(extract(epoch from now() - j.created_at) / ${agingSeconds}, 60)) desc, j.created_at, u.idx
      limit 1 offset ${offset}
      for update of u skip locked`.execute(trx);
    let unit = (await found(true, 0)).rows[0];
    if (!unit) {
      const top = (await found(false, 0)).rows[0];
      if (!top) return null;
      const spread = Math.floor(Math.random() * claimSpread);
      unit = spread ? ((await found(false, spread, top.job_id)).rows[0] ?? top) : top;
    }
    const lone = !unit.partner_node && unit.verification === 'replicate' && (await chooseLone(trx, unit, who.nodeId));
    await trx.updateTable('jobs').set({ state: 'running', updated_at: new Date() }).where('id', '=', unit.job_id).where('state', '=', 'queued').execute();
    const payload = { id: unit.id, jobId: unit.job_id, kind: unit.kind, params: unit.params, inputs: unit.inputs, flops: unit.flops };
    const lease = await insertLease(trx, who, payload, leaseTtlMs, { lone });
    await reservePay(trx, { attemptId: lease.attemptId, holder: who.holder, jobId: unit.job_id, flops: unit.flops, bid: unit.bid });
    if (unit.partner_node) await trx.updateTable('units').set({ partner_node: null, partner_due: null }).where('id', '=', unit.id).execute();
    await dealPartners(trx, [unit.id], leaseTtlMs); // its next replica, if it wants one
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

/** Heartbeats keep a lease alive for at most this many lease times: a node that heartbeats and
 * never returns a result (a hoarder) cannot hold a unit for ever. 10 × 30 s: any unit sized for
 * the slowest adapter (server/workloads) finishes well inside it. */
export const leaseLifeTtls = 10;

/** Extends the deadlines of a node's live leases by `leaseTtlMs` from now, up to their life. */
export async function extendLeases(db: Db, nodeId: string, attemptIds: string[], leaseTtlMs: number) {
  await db.updateTable('nodes').set({ last_seen_at: new Date() }).where('id', '=', nodeId).execute();
  if (attemptIds.length === 0) return;
  await db
    .updateTable('attempts')
    .set({ deadline: sql`greatest(deadline, least(now() + ${`${leaseTtlMs} milliseconds`}::interval, created_at + ${`${leaseTtlMs * leaseLifeTtls} milliseconds`}::interval))` })
    .where('id', 'in', attemptIds)
    .where('node_id', '=', nodeId)
    .where('state', '=', 'leased')
    .execute();
}

/**
 * leased ─deadline passed─▶ expired, counted against the nodes (not against the unit: a node
 * vanishing is no evidence about the unit). Their units are dealt again, and deals that lapsed
 * are drawn again. Returns how many leases lapsed or units were dealt.
 */
export async function expireLeases(db: Db, leaseTtlMs: number): Promise<number> {
  return inTransaction(db, async (trx) => {
    const rows = await trx
      .updateTable('attempts')
      .set({ state: 'expired', error: 'the lease ran out before a result came' })
      .where('state', '=', 'leased')
      .where('deadline', '<', sql<Date>`now()`)
      .returning(['id', 'unit_id'])
      .execute();
    await recordExpired(trx, rows.map((r) => r.id));
    await settlePays(trx, { attemptIds: rows.map((r) => r.id) });
    const dealt = await dealPartners(trx, rows.map((r) => r.unit_id), leaseTtlMs);
    return rows.length + dealt + (await redealLapsed(trx, leaseTtlMs));
  });
}
