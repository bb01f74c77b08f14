import { randomUUID } from 'node:crypto';
import { sql, type Insertable } from 'kysely';
import { randomSecret } from '../auth/secrets.ts';
import type { Database } from '../db/schema.ts';
import { inTransaction, type Db, type Trx } from '../db/index.ts';
import type { UnitPayload } from '../protocol/messages.ts';
import { reservePays, settlePays } from '../ledger/payments.ts';
import { chooseLone } from '../verify/adaptive.ts';
import { dealPartners, redealLapsed } from '../verify/deal.ts';
import { claimKnownAnswers } from '../verify/known-answer.ts';
import { dealtUnit, moveCursors, queuedUnits, type Candidate } from './queue.ts';
import { recordExpired } from '../verify/reputation.ts';

export interface LeaseHolder {
  nodeId: string;
  /** The account id, or `anon:<node id>`: never two replicas of one unit to one holder. */
  holder: string;
  gflops: number;
  /** Its network (nodes/prefix.ts): never two replicas of one unit from one network. */
  prefix: string | null;
  /** The least µcr per GFLOP it works for: it gets only units of jobs that bid as much. */
  ask: number;
  /** The workloads it runs (its hello's capabilities): it gets no unit of another kind. */
  kinds: string[];
  /** Its holder's ledger account is known to exist (opened at its hello): a claim need not open it. */
  accountOpened?: boolean;
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

interface Holdings {
  /** Live leases it holds, and their FLOPs. */
  n: number;
  flops: number;
  rate: number;
  releases: number;
  since: Date;
  quarantined: boolean;
  streak: number;
  /** A unit is dealt to it (server/verify/deal.ts), waiting for its claim. */
  dealt: boolean;
}

/**
 * What each node holds now, in one query. A node may take another lease unless it (or its
 * account) is quarantined or over its hourly releases. Bounded holdings: a node holds at most
 * the leases its measured speed justifies for the lease time — `holdMin` always, more while the
 * FLOPs it holds would take it under `leaseTtlMs` at the rate the coordinator measured from its
 * results (never what it reports), `holdMax` at most; known-answer leases count.
 */
async function holdingsOf(trx: Trx, nodeIds: string[]): Promise<Map<string, Holdings>> {
  const rows = await sql<Holdings & { id: string }>`
    select nd.id, h.n, h.flops, nd.rate_gflops as rate, nd.releases, nd.releases_since as since, nd.streak,
      (nd.quarantined_at is not null or acc.quarantined_at is not null) as quarantined,
      exists (select 1 from units u where u.partner_node = nd.id and u.state = 'pending') as dealt
    from nodes nd left join accounts acc on acc.id = nd.account_id,
      -- The deadline is a filter, not a condition an index could serve: with it in the WHERE, the
      -- planner might read every lease in flight through attempts_leased for each node (2,050 rows
      -- for 32 nodes, tests/nodes/flat-claims.test.ts) instead of the node's own few.
      lateral (select (count(*) filter (where a.deadline > now()))::int as n,
                 coalesce(sum(u.flops) filter (where a.deadline > now()), 0)::float8 as flops
               from attempts a join units u on u.id = a.unit_id
               where a.node_id = nd.id and a.state = 'leased') h
    where nd.id in (${sql.join(nodeIds)})`.execute(trx);
  return new Map(rows.rows.map((r) => [r.id, r]));
}

const overReleases = (h: Holdings) => h.releases >= releasesPerHourMax && Date.now() - h.since.getTime() < 3600_000;
const hasRoom = (h: Holdings, leaseTtlMs: number) => h.n < holdMin || (h.n < holdMax && h.flops / (h.rate * 1e9) < leaseTtlMs / 1000);

/** What a claim gave one node: leases, and why it got fewer than it wanted ('full': it may take
 * no more now — its holdings bound or its releases; 'dry': nothing it may take is queued). */
export interface Claimed {
  leases: Lease[];
  stop: 'full' | 'quarantined' | 'dry' | null;
}

/**
 * Claims units for nodes, `wants[i]` for `nodes[i]`, in one transaction (a pump round): first a
 * known-answer unit for a node being vetted (server/verify/known-answer.ts), then a unit dealt
 * to it as a partner (server/verify/deal.ts), then units from the queue (server/nodes/queue.ts).
 * Further replicas are never taken from the queue: they are dealt, so a node cannot pick its
 * partner (the chaos run's colluding pairs fished for shared units by asking, releasing and
 * asking again). Pays are reserved for all leases in one ledger batch; a lease the job's escrow
 * and its owner's wallet cannot pay is not made.
 */
export async function claimUnits(db: Db, nodes: LeaseHolder[], wants: number[], leaseTtlMs: number): Promise<Claimed[]> {
  if (!nodes.length) return [];
  return inTransaction(db, async (trx) => {
    const held = await holdingsOf(trx, nodes.map((n) => n.nodeId));
    const out: Claimed[] = nodes.map(() => ({ leases: [], stop: null }));
    const room = nodes.map((who, i) => {
      const h = held.get(who.nodeId);
      if (!h || h.quarantined) out[i]!.stop = 'quarantined';
      else if (overReleases(h) || !hasRoom(h, leaseTtlMs)) out[i]!.stop = 'full';
      return out[i]!.stop ? 0 : wants[i]!;
    });
    /** Whether node i may take another unit now (each lease counted as it is picked). */
    const canTake = (i: number) => {
      if (room[i]! <= 0) return false;
      if (hasRoom(held.get(nodes[i]!.nodeId)!, leaseTtlMs)) return true;
      out[i]!.stop = 'full';
      return false;
    };
    const take = (i: number, flops: number) => {
      const h = held.get(nodes[i]!.nodeId)!;
      h.n++;
      h.flops += flops;
      room[i]!--;
    };
    const vetting = nodes.flatMap((who, i) => (canTake(i) ? [i] : []));
    const known = await claimKnownAnswers(trx, vetting.map((i) => ({ who: nodes[i]!, streak: held.get(nodes[i]!.nodeId)!.streak })), leaseTtlMs);
    known.forEach((lease, k) => {
      if (!lease) return;
      out[vetting[k]!]!.leases.push(lease);
      take(vetting[k]!, lease.unit.flops);
    });
    const picks: { i: number; unit: Candidate }[] = [];
    for (let i = 0; i < nodes.length; i++) {
      if (!held.get(nodes[i]!.nodeId)?.dealt || !canTake(i)) continue;
      const unit = await dealtUnit(trx, nodes[i]!);
      if (unit) {
        picks.push({ i, unit });
        take(i, unit.flops);
      }
    }
    const queued = await queuedUnits(trx, nodes, [...room], { canTake, take });
    queued.got.forEach((units, i) => units.forEach((unit) => picks.push({ i, unit })));
    /** Fewer than wanted with room to spare: nothing more it may take (or pay for) is queued. */
    const dry = async () => {
      await moveCursors(trx, queued.cursors); // last: the job's row is locked till commit
      return out.map((o, i) => (!o.stop && o.leases.length < wants[i]! && (o.stop = 'dry'), o));
    };
    if (!picks.length) return dry();
    const attempts = picks.map(({ i, unit }) => ({ id: randomUUID(), i, who: nodes[i]!, unit, lease: null as Lease | null }));
    const rows: Insertable<Database['attempts']>[] = [];
    for (const attempt of attempts) {
      const { id, who, unit } = attempt;
      const lone = !unit.partner_node && unit.verification === 'replicate' && (await chooseLone(trx, unit, who.nodeId));
      attempt.lease = newLease(id, who, { id: unit.id, jobId: unit.job_id, kind: unit.kind, params: unit.params, inputs: unit.inputs, flops: unit.flops }, leaseTtlMs);
      rows.push(attemptRow(attempt.lease, who, { lone }));
    }
    await trx.insertInto('attempts').values(rows).execute();
    const dealt = attempts.filter((a) => a.unit.partner_node).map((a) => a.unit.id);
    if (dealt.length) await trx.updateTable('units').set({ partner_node: null, partner_due: null }).where('id', 'in', dealt).execute();
    const jobIds = [...new Set(attempts.filter((a) => a.unit.job_state === 'queued').map((a) => a.unit.job_id))];
    if (jobIds.length) await trx.updateTable('jobs').set({ state: 'running', updated_at: new Date() }).where('id', 'in', jobIds).where('state', '=', 'queued').execute();
    // No deal is made here: a unit just leased has a live replica in flight, and the next is dealt
    // only once every replica in flight has returned (server/verify/deal.ts). A stale
    // `partner_due` on a unit taken from the queue is cleared by the sweeper's redeal.
    // The pays last but the cursors: the ledger's head, which every ledger write of every
    // coordinator takes, is then held for the commit only (server/nodes/results.ts takes the
    // head, then the jobs' rows, in this order too).
    const uncovered = await reservePays(trx, attempts.map(({ id, who, unit }) => ({ attemptId: id, holder: who.holder, jobId: unit.job_id, flops: unit.flops, bid: unit.bid, opened: who.accountOpened })));
    if (uncovered.size) {
      // Leases nobody can pay for are not made (rare: a job whose escrow and owner's wallet ran
      // dry within this round). Their units go back to the queue, or to the next deal.
      const gone = attempts.filter((a) => uncovered.has(a.id));
      await trx.deleteFrom('attempts').where('id', 'in', gone.map((a) => a.id)).execute();
      await dealPartners(trx, gone.map((a) => a.unit.id), leaseTtlMs);
    }
    for (const a of attempts) if (!uncovered.has(a.id)) out[a.i]!.leases.push(a.lease!);
    return dry();
  });
}

function newLease(attemptId: string, who: LeaseHolder, unit: UnitPayload, leaseTtlMs: number): Lease {
  return { attemptId, token: randomSecret(16), deadline: new Date(Date.now() + leaseMs(unit.flops, who.gflops, leaseTtlMs)), unit };
}

const attemptRow = (lease: Lease, who: LeaseHolder, flags: { lone?: boolean; known?: boolean }): Insertable<Database['attempts']> => ({
  id: lease.attemptId,
  unit_id: lease.unit.id,
  node_id: who.nodeId,
  holder: who.holder,
  token: lease.token,
  state: 'leased',
  deadline: lease.deadline,
  prefix: who.prefix,
  ...flags,
});

/** Leases each `unit` to its `who` as a new attempt, in one statement. */
export async function insertLeases(trx: Trx, picks: { who: LeaseHolder; unit: UnitPayload }[], leaseTtlMs: number, flags: { lone?: boolean; known?: boolean } = {}): Promise<Lease[]> {
  if (!picks.length) return [];
  const leases = picks.map(({ who, unit }) => newLease(randomUUID(), who, unit, leaseTtlMs));
  await trx.insertInto('attempts').values(leases.map((lease, k) => attemptRow(lease, picks[k]!.who, flags))).execute();
  return leases;
}

/** Heartbeats keep a lease alive for at most this many lease times: a node that heartbeats and
 * never returns a result (a hoarder) cannot hold a unit for ever, and a job's last units wait
 * for it at most this long. 4 × 30 s: a unit sized for a 1 GFLOP/s adapter at a 10% throttle
 * (2 GFLOP, 20 s) finishes well inside it. */
export const leaseLifeTtls = 4;

/** Extends the deadlines of a node's live leases by `leaseTtlMs` from now, up to their life. */
export async function extendLeases(db: Db, nodeId: string, attemptIds: string[], leaseTtlMs: number) {
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
