import { sql } from 'kysely';
import { randomSecret } from '../auth/secrets.ts';
import { inTransaction, type Db, type Trx } from '../db/index.ts';
import type { UnitPayload } from '../protocol/messages.ts';
import { AppError } from '../errors.ts';
import { reservePay, settlePays } from '../ledger/payments.ts';
import { chooseLone } from '../verify/adaptive.ts';
import { dealPartners, redealLapsed } from '../verify/deal.ts';
import { claimKnownAnswer } from '../verify/known-answer.ts';
import { dealtUnit, queuedUnit } from './queue.ts';
import { recordExpired } from '../verify/reputation.ts';

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

/** Leases a node may always hold (one running, one fetched ahead), and never more than `holdMax`. */
export const holdMin = 2;
export const holdMax = 8;
/** Releases a node may make in an hour; past it, no new leases until the hour is over. */
export const releasesPerHourMax = 60;

/**
 * Whether the node may take another lease now. Not when it (or its account) is quarantined, or
 * over its hourly releases. Bounded holdings: a node holds at most the leases its measured speed
 * justifies for the lease time — `holdMin` always, more while the FLOPs it holds would take it
 * under `leaseTtlMs` at the rate the coordinator measured from its results (never what it
 * reports), `holdMax` at most; known-answer leases count. One query.
 */
async function mayHoldMore(trx: Trx, nodeId: string, leaseTtlMs: number): Promise<boolean> {
  const row = await sql<{ n: number; flops: number; rate: number; releases: number; since: Date; barred: boolean }>`
    select h.n, h.flops, nd.rate_gflops as rate, nd.releases, nd.releases_since as since,
      (nd.quarantined_at is not null or acc.quarantined_at is not null) as barred
    from nodes nd left join accounts acc on acc.id = nd.account_id,
      lateral (select count(*)::int as n, coalesce(sum(u.flops), 0)::float8 as flops from attempts a join units u on u.id = a.unit_id
               where a.node_id = nd.id and a.state = 'leased' and a.deadline > now()) h
    where nd.id = ${nodeId}`.execute(trx);
  const node = row.rows[0];
  if (!node || node.barred) return false;
  if (node.releases >= releasesPerHourMax && Date.now() - node.since.getTime() < 3600_000) return false;
  return node.n < holdMin || (node.n < holdMax && node.flops / (node.rate * 1e9) < leaseTtlMs / 1000);
}

/**
 * Claims one unit for a node, or null when none fits, or 'full' when the node may take no more
 * now (its holdings bound, its releases, a quarantine: it asks again when it has room): a unit dealt to it as a partner
 * (server/verify/deal.ts), else one from the queue (server/nodes/queue.ts). Further replicas are
 * never taken from the queue: they are dealt, so a node cannot pick its partner (the chaos run's
 * colluding pairs fished for shared units by asking, releasing and asking again).
 */
export async function claimUnit(db: Db, who: LeaseHolder, leaseTtlMs: number): Promise<Lease | 'full' | null> {
  return inTransaction(db, async (trx) => {
    if (!(await mayHoldMore(trx, who.nodeId, leaseTtlMs))) return 'full' as const;
    const known = await claimKnownAnswer(trx, who, leaseTtlMs);
    if (known) return known;
    const unit = (await dealtUnit(trx, who)) ?? (await queuedUnit(trx, who));
    if (!unit) return null;
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
 * never returns a result (a hoarder) cannot hold a unit for ever, and a job's last units wait
 * for it at most this long. 4 × 30 s: a unit sized for a 1 GFLOP/s adapter at a 10% throttle
 * (2 GFLOP, 20 s) finishes well inside it. */
export const leaseLifeTtls = 4;

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
 * are drawn again. Returns how many leases lapsed or units were dealt. `lapse` false: deals only
 * (a coordinator's first lease time, server/nodes/hub.ts).
 */
export async function expireLeases(db: Db, leaseTtlMs: number, lapse = true): Promise<number> {
  return inTransaction(db, async (trx) => {
    if (!lapse) return redealLapsed(trx, leaseTtlMs);
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
