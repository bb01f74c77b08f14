import { sql } from 'kysely';
import type { Trx } from '../db/index.ts';
import { insertLease, type Lease, type LeaseHolder } from '../nodes/leases.ts';
import { trustedStreakMin } from './reputation.ts';

/**
 * Known-answer units for new nodes. A node not yet trusted (a streak under 10) is, on a fifth
 * of its claims, leased a unit whose answer is already known: a unit of a replicate job that
 * two accounts agreed on. It cannot tell such a unit from real work. Its result is judged
 * against the known one: a liar is caught (trust to zero, offence counted, quarantine on the
 * second) before it gets to vote on a unit whose answer is not yet known. The unit itself is
 * never changed. A known answer is only as good as its quorum, so only units whose two
 * supporters are both trusted now are used (a colluding pair's unit would condemn the honest).
 * Freivalds jobs need none: every result there is checked on its own.
 */
export const knownAnswerRate = 0.2;
export const knownRecentMax = 200;

/** `streak`: the node's, as its claim read it. */
export async function claimKnownAnswer(trx: Trx, who: LeaseHolder, streak: number, leaseTtlMs: number): Promise<Lease | null> {
  if (Math.random() >= knownAnswerRate || streak >= trustedStreakMin) return null;
  // Among the `knownRecentMax` units verified last (through units_verified_at): a claim's cost
  // does not grow with the history.
  const found = await sql<{ id: string; job_id: string; kind: string; params: Record<string, unknown>; inputs: string[]; flops: number }>`
    select u.id, u.job_id, j.kind, u.params, u.inputs, u.flops
    from (select * from units where state = 'verified' order by verified_at desc limit ${sql.lit(knownRecentMax)}) u
    join jobs j on j.id = u.job_id
    where j.verification = 'replicate' and j.kind in (${sql.join(who.kinds)})
      and (select count(*) from attempts a join nodes n on n.id = a.node_id
           where a.unit_id = u.id and a.state = 'valid' and not a.known
             and n.streak >= ${trustedStreakMin} and n.quarantined_at is null) >= 2
      and not exists (select 1 from attempts a where a.unit_id = u.id and a.holder = ${who.holder})
    order by u.verified_at desc
    limit 1`.execute(trx);
  const unit = found.rows[0];
  if (!unit) return null;
  const payload = { id: unit.id, jobId: unit.job_id, kind: unit.kind, params: unit.params, inputs: unit.inputs, flops: unit.flops };
  return insertLease(trx, who, payload, leaseTtlMs, { known: true });
}
