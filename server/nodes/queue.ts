import { sql } from 'kysely';
import type { Trx } from '../db/index.ts';
import { agingSeconds } from '../market/price.ts';
import type { LeaseHolder } from './leases.ts';

/**
 * Where a claim finds its unit, at a cost that does not grow with the queue.
 *
 * A dealt unit (server/verify/deal.ts) is found through its own index (units.partner_node).
 * Otherwise the open jobs the node may work for — its kinds, its ask, an owner who can pay a
 * unit (checked once per job, from the job's mean unit) — are taken highest priority first: a
 * job's bid, doubled for every `agingSeconds` it has waited, so a low bid is served later but
 * never starves. That list is of jobs, not units. In the first job with a unit for this node,
 * the pending units are walked in order through units_pending (job_id, idx), passing over those
 * with a live replica or barred to this node, to a random place among the first `claimSpread`
 * it may take. What the walk passes over are units in flight or waiting for a dealt replica —
 * bounded by the nodes at work, not by the units queued behind them (bench/coordinator).
 * `for update of u skip locked`: concurrent claimers (other sockets, other coordinator
 * processes) pass over a unit being claimed instead of waiting on it.
 */
export const claimSpread = 16;
/** Jobs a claim looks into before it gives up (the rest wait for the next claim). */
export const jobsPerClaimMax = 20;
/** A unit of a replicate job that a node released is not leased to it again from the queue for
 * this long (fishing for pairs; where each result is checked alone there is nothing to fish). */
export const releaseBarMs = 10 * 60_000;

export interface Candidate {
  id: string;
  job_id: string;
  kind: string;
  params: Record<string, unknown>;
  inputs: string[];
  flops: number;
  verification: string;
  replication: number;
  bid: number;
  partner_node: string | null;
}

/** Never two replicas of a unit to one holder (account) or one network; known-answer attempts do not count. */
const barred = (who: LeaseHolder) => sql`
  not exists (select 1 from attempts a where a.unit_id = u.id and a.holder = ${who.holder}
    and a.state in ('leased', 'returned', 'valid', 'invalid') and not a.known)
  and (${who.prefix}::text is null or not exists (select 1 from attempts a where a.unit_id = u.id
    and a.prefix = ${who.prefix} and a.state in ('leased', 'returned', 'valid') and not a.known))`;

/** The unit dealt to this node as a partner, if any. */
export async function dealtUnit(trx: Trx, who: LeaseHolder): Promise<Candidate | undefined> {
  const found = await sql<Candidate>`
    select u.id, u.job_id, j.kind, u.params, u.inputs, u.flops, j.verification, j.replication, j.bid, u.partner_node
    from units u join jobs j on j.id = u.job_id
    where u.partner_node = ${who.nodeId} and u.state = 'pending' and j.state in ('queued', 'running') and ${barred(who)}
    limit 1 for update of u skip locked`.execute(trx);
  return found.rows[0];
}

/** A unit with no live replica from the queue, or undefined. */
export async function queuedUnit(trx: Trx, who: LeaseHolder): Promise<Candidate | undefined> {
  const anonymous = who.holder.startsWith('anon:');
  // An account's lease reserves its pay in the job's escrow, topped up from the owner's wallet
  // (server/ledger/payments.ts); a job whose owner cannot cover a unit waits. Anonymous nodes earn nothing.
  const jobs = await sql<{ id: string }>`
    select j.id from jobs j
    where j.state in ('queued', 'running') and j.units_verified < j.units_total
      and j.bid >= ${who.ask} and j.kind in (${sql.join(who.kinds)})
      and (${anonymous}
           or (select coalesce(sum(e.credits_posted - e.debits_posted - e.debits_pending), 0) from ledger_accounts e
               where e.id in ('escrow:' || j.id::text, 'user:' || j.account_id::text))
              >= ceil(j.flops::numeric / j.units_total * j.bid / 1e12))
    order by j.bid * power(2, least(extract(epoch from now() - j.created_at) / ${agingSeconds}, 60)) desc, j.created_at
    limit ${jobsPerClaimMax}`.execute(trx);
  const spread = Math.floor(Math.random() * claimSpread);
  for (const job of jobs.rows) {
    const at = (offset: number) => sql<Candidate>`
      select u.id, u.job_id, j.kind, u.params, u.inputs, u.flops, j.verification, j.replication, j.bid, u.partner_node
      from units u join jobs j on j.id = u.job_id
      where u.job_id = ${job.id} and u.state = 'pending' and u.partner_node is null
        and not exists (select 1 from attempts a where a.unit_id = u.id and not a.known and not a.suspect
          and (a.state = 'returned' or (a.state = 'leased' and a.deadline > now())))
        and (j.verification <> 'replicate' or not exists (select 1 from attempts a where a.unit_id = u.id
          and a.node_id = ${who.nodeId} and a.released and a.created_at > now() - ${`${releaseBarMs} milliseconds`}::interval))
        and ${barred(who)}
      order by u.idx
      limit 1 offset ${offset}
      for update of u skip locked`.execute(trx);
    const unit = (spread ? (await at(spread)).rows[0] : undefined) ?? (await at(0)).rows[0];
    if (unit) return unit;
  }
  return undefined;
}
