import { sql } from 'kysely';
import type { Trx } from '../db/index.ts';
import { insertLeases, type Lease, type LeaseHolder } from '../nodes/leases.ts';
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

/**
 * Known-answer leases for the nodes of a claim round that draw one (each node on a fifth of its
 * claims while its streak, as the round read it, is under trustedStreakMin): at most one query
 * and one insert for the round, however many draw. Returns each node's lease, or null.
 */
export async function claimKnownAnswers(trx: Trx, vetting: { who: LeaseHolder; streak: number }[], leaseTtlMs: number): Promise<(Lease | null)[]> {
  const drawn = vetting.map(({ streak }) => streak < trustedStreakMin && Math.random() < knownAnswerRate);
  if (!drawn.includes(true)) return vetting.map(() => null);
  const kinds = [...new Set(vetting.filter((_, i) => drawn[i]).flatMap(({ who }) => who.kinds))];
  // Among the `knownRecentMax` units verified last (through units_verified_at): a claim's cost
  // does not grow with the history. With who ran each, so that no holder gets a unit it ran.
  const found = await sql<{ id: string; job_id: string; kind: string; params: Record<string, unknown>; inputs: string[]; flops: number; holders: string[] }>`
    select u.id, u.job_id, j.kind, u.params, u.inputs, u.flops, array(select distinct a.holder from attempts a where a.unit_id = u.id) as holders
    from (select * from units where state = 'verified' order by verified_at desc limit ${sql.lit(knownRecentMax)}) u
    join jobs j on j.id = u.job_id
    where j.verification = 'replicate' and j.kind in (${sql.join(kinds)})
      and (select count(*) from attempts a join nodes n on n.id = a.node_id
           where a.unit_id = u.id and a.state = 'valid' and not a.known
             and n.streak >= ${trustedStreakMin} and n.quarantined_at is null) >= 2
    order by u.verified_at desc`.execute(trx);
  const picks = vetting.map(({ who }, i) => {
    // The newest it may take; its holder is then on the unit (two nodes of one account get two units).
    const unit = drawn[i] ? found.rows.find((u) => who.kinds.includes(u.kind) && !u.holders.includes(who.holder)) : undefined;
    unit?.holders.push(who.holder);
    return unit && { who, unit: { id: unit.id, jobId: unit.job_id, kind: unit.kind, params: unit.params, inputs: unit.inputs, flops: unit.flops } };
  });
  const leases = await insertLeases(trx, picks.filter((p) => !!p), leaseTtlMs, { known: true });
  return picks.map((p) => (p ? leases.shift()! : null));
}
