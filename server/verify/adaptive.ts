import { sql } from 'kysely';
import type { Trx } from '../db/index.ts';
import { quorum } from '../jobs/states.ts';
import { clearOffence, spotRate, trustedStreakMin } from './reputation.ts';

/** The error an attempt gets when a verdict finds it disagreeing (server/nodes/results.ts). */
export const disagreed = 'disagreed with the verified result';

/**
 * Adaptive replication for `replicate` jobs (BOINC's model as the floor).
 *
 * A node is never trusted alone before `trustedStreakMin` (10) consecutive valid results.
 * After that, when it claims a fresh unit (no attempt yet), it runs it alone with
 * probability 1 − spotRate (the rest are spot checks: ordinary replicated units, which it
 * cannot tell apart). The spot-check rate falls with its streak and never goes under 5%.
 *
 * The promise for a unit run by a trusted node alone: the result is provisional until that
 * node passes a spot check *leased after* the unit (nodes.spot_ok_at is the lease time of its
 * latest passed check, not when it was judged: a check already in hand when the node lied
 * proves nothing about the lie). The job does not complete, no result is released and nothing
 * is paid while any lone unit is unconfirmed; units still unconfirmed when the rest of the job
 * is verified get a second replica (confirmLone). So a node that lies and leaves, or lies on
 * every unit once trusted, never gets a lie through. A node that lies on a share q of its units
 * and keeps working slips one through with probability at most (1 − p)(1 − q) for spot rate p
 * (the lie is a spot check itself with probability p; otherwise it slips if the next check
 * passes): a one-off lie, 50% at streak 10, 95% at the 5% floor. Each lie risks the node's
 * record: caught, its trust goes to zero, its results in open jobs are judged again
 * (reopenSupported), and a second offence quarantines the account.
 */

/** Decides, under the claim's lock on a fresh unit, whether this node runs it alone. */
export async function chooseLone(trx: Trx, unit: { id: string; replication: number }, nodeId: string): Promise<boolean> {
  const open = await trx
    .selectFrom('attempts')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('unit_id', '=', unit.id)
    .where('state', 'in', ['leased', 'returned', 'valid', 'invalid'])
    .executeTakeFirstOrThrow();
  if (Number(open.n) > 0) return false;
  const node = await trx.selectFrom('nodes').select('streak').where('id', '=', nodeId).executeTakeFirstOrThrow();
  const lone = node.streak >= trustedStreakMin && Math.random() >= spotRate(node.streak);
  await trx.updateTable('units').set({ replicas: lone ? 1 : unit.replication }).where('id', '=', unit.id).execute();
  return lone;
}

/** The most voting results a reopened unit asks for (the store's check, migration 0012). Reached
 * only by a unit whose verdicts were withdrawn again and again; at it, the unit waits for the
 * results it has rather than asking for more. */
const reopenedReplicasMax = 16;

/** Back to pending: the unit's verdict is withdrawn and it wants `replicas` voting results
 * again. Its next replica is dealt by the sweeper within a second (server/verify/deal.ts). */
async function reopen(trx: Trx, unitId: string, jobId: string, replicas: number) {
  const reopened = await trx
    .updateTable('units')
    .set({ state: 'pending', result_sha256: null, verified_at: null, replicas, partner_node: null, partner_due: new Date() })
    .where('id', '=', unitId)
    .where('state', '=', 'verified')
    .returning('id')
    .executeTakeFirst();
  if (reopened) await trx.updateTable('jobs').set((eb) => ({ units_verified: eb('units_verified', '-', 1), updated_at: new Date() })).where('id', '=', jobId).execute();
}

/**
 * A node was caught with a wrong result: every unit of an open replicate job that it helped
 * verify is looked at again. Its own results there become suspect: no vote (server/verify/
 * replicate.ts), so a liar's results cannot confirm each other.
 *
 * A verdict that holds without the caught nodes — `quorum` valid results of other holders
 * agreeing on it, none suspect — stands: it is what the unit's voters would decide now, and
 * reopening it only bought a replica it did not need and a new judgement of its losers. That
 * judgement was a loop: the losers, restored and judged wrong again, were caught again, and
 * reopened in turn the units *they* had helped verify (a chaos run's units ping-ponged up to
 * reopenedReplicasMax, 16 replicas, and the replicate scenario spent 4.6 attempts a unit).
 *
 * Otherwise the unit is judged again: the caught node's results go back to 'returned' as
 * suspect (judged with the rest, paid if right, so a result of a node convicted by a vote that
 * is later withdrawn is not lost); the other valid results go back to 'returned', and one more
 * replica is dealt at random. Results the withdrawn verdict had judged invalid for disagreeing
 * with it go back to 'returned' too, and the offence is cleared (clearOffence): a colluding pair
 * must not frame honest nodes. Returns the units reopened.
 */
export async function reopenSupported(trx: Trx, nodeIds: string[]): Promise<number> {
  if (!nodeIds.length) return 0;
  const units = await sql<{ id: string; job_id: string; replication: number }>`
    select distinct u.id, u.job_id, j.replication from units u
    join jobs j on j.id = u.job_id
    join attempts a on a.unit_id = u.id
    where j.verification = 'replicate' and j.state in ('queued', 'running') and u.state = 'verified'
      and a.state = 'valid' and not a.known and a.node_id in (${sql.join(nodeIds)})`.execute(trx);
  let reopened = 0;
  for (const u of units.rows) {
    const caught = await trx.updateTable('attempts').set({ suspect: true }).where('unit_id', '=', u.id).where('node_id', 'in', nodeIds).where('state', '=', 'valid').where('known', '=', false).returning('id').execute();
    const others = await trx.selectFrom('attempts').select('holder').distinct().where('unit_id', '=', u.id).where('state', '=', 'valid').where('known', '=', false).where('suspect', '=', false).execute();
    if (others.length >= quorum) continue; // the verdict stands
    reopened++;
    await trx.updateTable('attempts').set({ state: 'returned' }).where('id', 'in', caught.map((a) => a.id)).execute();
    const framed = await trx
      .updateTable('attempts')
      .set({ state: 'returned', error: null })
      .where('unit_id', '=', u.id)
      .where('state', '=', 'invalid')
      .where('error', '=', disagreed)
      .where('node_id', 'not in', nodeIds)
      .returning(['node_id', 'streak_lost'])
      .execute();
    for (const attempt of framed) await clearOffence(trx, attempt);
    const kept = await trx.updateTable('attempts').set({ state: 'returned' }).where('unit_id', '=', u.id).where('state', '=', 'valid').where('known', '=', false).returning('suspect').execute();
    const voters = kept.filter((a) => !a.suspect).length + framed.length;
    await reopen(trx, u.id, u.job_id, Math.min(reopenedReplicasMax, Math.max(u.replication, voters + 1)));
  }
  return reopened;
}

/**
 * Before a replicate job completes: lone results whose node has not passed a spot check
 * since get a second replica (their unit reopens with the lone result as one replica).
 * Returns how many units were reopened; the job completes only when none are.
 */
export async function confirmLone(trx: Trx, jobId: string): Promise<number> {
  const unconfirmed = await trx
    .selectFrom('attempts')
    .innerJoin('units', 'units.id', 'attempts.unit_id')
    .innerJoin('nodes', 'nodes.id', 'attempts.node_id')
    .select(['attempts.id', 'attempts.unit_id'])
    .where('units.job_id', '=', jobId)
    .where('attempts.lone', '=', true)
    .where('attempts.state', '=', 'valid')
    .where((eb) => eb.or([eb('nodes.spot_ok_at', 'is', null), eb('nodes.spot_ok_at', '<=', eb.ref('attempts.created_at'))]))
    .execute();
  for (const a of unconfirmed) {
    await trx.updateTable('attempts').set({ state: 'returned' }).where('id', '=', a.id).execute();
    await reopen(trx, a.unit_id, jobId, 2);
  }
  return unconfirmed.length;
}
