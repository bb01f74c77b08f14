import { sql } from 'kysely';
import type { Db, Trx } from '../db/index.ts';
import { reopenSupported } from './adaptive.ts';

/**
 * Reputation of nodes and accounts.
 *
 * Counts: valid, invalid and expired attempts, per node and per account. A node's streak is
 * its consecutive valid results since its last invalid one (expiries do not break it:
 * vanishing is not lying, and it already costs the node its lease).
 *
 * Trust of a node: s / (s + 10), s its streak. 0 for a new node and at once after any
 * invalid result; 0.5 at the BOINC floor of 10 consecutive valid results, where a node may
 * start to run units alone; 0.9 at 90. This is the shape of Sarmenta's credibility
 * (1 − f/(k·(1−f)) for a node that passed k spot checks, with an assumed liar share f), with
 * the streak for k: credibility grows with an unbroken record and is lost whole on one lie.
 * Spot-check rate for a trusted node: 1 − trust, floored at 5% (it never reaches zero).
 *
 * A node caught with a wrong result: that attempt earns nothing, its streak and so its trust
 * drop to 0; its account records an offence, and an account with `offencesMax` invalid results
 * is quarantined: it gets no more work. Anonymous nodes are quarantined themselves. Every
 * unit of an open replicate job that the caught node helped verify is judged again.
 */
export const trustedStreakMin = 10;
export const spotRateMin = 0.05;
export const offencesMax = 2;

export const trust = (streak: number) => streak / (streak + trustedStreakMin);
/** An account's trust: v / (v + 10) for its v valid results, 0 once any of its nodes lied. */
export const accountTrust = (valid: number, invalid: number) => (invalid > 0 ? 0 : valid / (valid + trustedStreakMin));
export const spotRate = (streak: number) => Math.max(spotRateMin, 1 - trust(streak));

/**
 * Records valid results of these attempts' nodes and accounts: one each (a node with three
 * results in a batch gains three), nodes and accounts in one statement. With `rates`, the
 * nodes' measured speeds (server/nodes/results.ts) are written in the same statement, for
 * nodes with a valid result recorded here or not (a suspect's result counts no trust but
 * measures its speed): a round trip less a result batch.
 */
export async function recordValid(trx: Trx, attemptIds: string[], rates?: { at: Date; of: Map<string, number> }) {
  if (!attemptIds.length && !rates?.of.size) return;
  const counted = attemptIds.length
    ? sql`select node_id, count(*)::int as n from attempts where id in (${sql.join(attemptIds)}) group by node_id`
    : sql`select null::uuid as node_id, 0 as n where false`;
  const measured = rates?.of.size
    ? sql`values ${sql.join([...rates.of].map(([id, rate]) => sql`(${id}::uuid, ${rate}::float8)`))}`
    : sql`select null::uuid, null::float8 where false`;
  await sql`with c as (${counted}), r (id, rate) as (${measured}),
      t as (select coalesce(c.node_id, r.id) as id, coalesce(c.n, 0) as n, r.rate from c full join r on r.id = c.node_id),
      n as (update nodes set valid = nodes.valid + t.n, streak = nodes.streak + t.n,
          rate_gflops = coalesce(t.rate, nodes.rate_gflops),
          last_result_at = case when t.rate is null then nodes.last_result_at else ${rates?.at ?? null}::timestamptz end
        from t where nodes.id = t.id returning nodes.account_id, t.n)
    update accounts set valid = accounts.valid + x.n
    from (select account_id, sum(n)::int as n from n where account_id is not null group by account_id) x where accounts.id = x.account_id and x.n > 0`.execute(trx);
}

/** Records caught lies: streaks to zero (kept on the attempt, to give back if the verdict is
 * withdrawn), offences counted, repeat offenders quarantined; their open results re-checked. */
export async function recordInvalid(trx: Trx, attemptIds: string[]) {
  if (!attemptIds.length) return;
  const now = new Date();
  const rows = await trx.selectFrom('attempts').innerJoin('nodes', 'nodes.id', 'attempts.node_id').select(['attempts.id', 'attempts.node_id', 'nodes.streak']).where('attempts.id', 'in', attemptIds).execute();
  for (const { id, node_id: nodeId, streak } of rows) {
    await trx.updateTable('attempts').set({ streak_lost: streak }).where('id', '=', id).execute();
    const node = await trx
      .updateTable('nodes')
      .set((eb) => ({ invalid: eb('invalid', '+', 1), streak: 0 }))
      .where('id', '=', nodeId)
      .returning(['account_id', 'invalid'])
      .executeTakeFirstOrThrow();
    if (node.account_id) {
      await trx
        .updateTable('accounts')
        .set((eb) => ({ invalid: eb('invalid', '+', 1), quarantined_at: sql`case when invalid + 1 >= ${offencesMax} then coalesce(quarantined_at, ${now}) else quarantined_at end` }))
        .where('id', '=', node.account_id)
        .execute();
    } else if (node.invalid >= offencesMax) {
      await trx.updateTable('nodes').set({ quarantined_at: now }).where('id', '=', nodeId).where('quarantined_at', 'is', null).execute();
    }
  }
  await reopenSupported(trx, [...new Set(rows.map((r) => r.node_id))]);
}

/**
 * A verdict against this attempt was withdrawn (its accusers were caught): the offence is taken
 * off its node and account, a quarantine that rested on it is lifted, and the streak it took
 * is given back. The node is not treated as a liar for it.
 */
export async function clearOffence(trx: Trx, attempt: { node_id: string; streak_lost: number }) {
  const node = await trx
    .updateTable('nodes')
    .set((eb) => ({ invalid: sql`greatest(invalid - 1, 0)`, streak: eb('streak', '+', attempt.streak_lost), quarantined_at: sql`case when invalid - 1 < ${offencesMax} then null else quarantined_at end` }))
    .where('id', '=', attempt.node_id)
    .returning('account_id')
    .executeTakeFirstOrThrow();
  if (node.account_id) {
    await trx
      .updateTable('accounts')
      .set({ invalid: sql`greatest(invalid - 1, 0)`, quarantined_at: sql`case when invalid - 1 < ${offencesMax} then null else quarantined_at end` })
      .where('id', '=', node.account_id)
      .execute();
  }
}

/** Records leases that lapsed (the sweeper calls it with what it expired). */
export async function recordExpired(db: Db | Trx, attemptIds: string[]) {
  if (!attemptIds.length) return;
  const nodes = db.selectFrom('attempts').select('node_id').where('id', 'in', attemptIds);
  await db.updateTable('nodes').set((eb) => ({ expired: eb('expired', '+', 1) })).where('id', 'in', nodes).execute();
  const accounts = db.selectFrom('attempts').innerJoin('nodes', 'nodes.id', 'attempts.node_id').select('nodes.account_id').where('attempts.id', 'in', attemptIds);
  await db.updateTable('accounts').set((eb) => ({ expired: eb('expired', '+', 1) })).where('id', 'in', accounts).execute();
}
