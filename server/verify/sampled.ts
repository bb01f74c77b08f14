import { sql } from 'kysely';
import type { Deps } from '../context.ts';
import { inTransaction, type Db, type Trx } from '../db/index.ts';
import { settlePays } from '../ledger/payments.ts';
import type { UnitResult, Workload } from '../../workloads/types.ts';
import { recordInvalid, recordValid, spotRate, trustedStreakMin } from './reputation.ts';

/**
 * Sampled checks, for a workload whose check costs as much as the work (Workload.sampled: train,
 * whose check recomputes a shard's gradient on the coordinator's CPU). Checking every result
 * would make the coordinator do the network's work again.
 *
 * When a result comes (server/nodes/results.ts): a node that is not trusted (a streak under
 * `trustedStreakMin`, 10 results in a row that passed their check) has every result checked. A
 * trusted node's result is checked with probability checkRate = max(rateMin, spotRate(streak)):
 * 50% at a streak of 10, 20% from a streak of 40 for train (its rateMin). The node cannot tell
 * which. An unchecked result is accepted *lone*: it counts toward its unit, it builds no trust
 * (only checked results do), and its pay stays pending until the job ends.
 *
 * Before a round is decided (decideRound, from server/jobs/finish.ts): the workload screens the
 * round's results (train: a gradient whose norm is over 3× or under ⅓ of the median of the
 * others'), and every lone result the screen names, or whose node has lost its trust since (a
 * check caught it elsewhere), is checked now. A lone result that fails is a caught lie: its node
 * loses its trust (reputation.ts), and everything it sent unchecked in this job is withdrawn —
 * this round's results go back to the queue (the weights never move on them) and the pay of its
 * earlier ones is voided. The round is decided once every unit is verified again.
 *
 * What a round's weights are promised when a trusted node ran a shard alone: its gradient
 * passed the screen, so its norm is within 3× of its peers' (a scaled gradient, or noise of
 * another size, never moves the weights); the sampled check has not caught its node. A lie the
 * screen cannot see (a sign flip, noise of the right size, last round's gradient) is caught
 * with probability ≥ rateMin per lie when it arrives, so a node that lies on a share q of its
 * shards gets a lie through unchecked with probability ≤ (1 − rateMin) per lie and expects
 * ≤ (1 − rateMin) / rateMin of them (4 for train at 20%) before it is caught; then it earns
 * nothing in the job, has every result checked until it has 10 right in a row again, and a
 * second catch quarantines its account. Each such lie is one shard of one round: at most
 * shardRows / batch of that round's mean, with a bounded norm.
 */

/** The share of this node's results checked when they come. */
export function checkRate(streak: number, rateMin: number): number {
  return streak < trustedStreakMin ? 1 : Math.max(rateMin, spotRate(streak));
}

/** These nodes' streaks, for checkRate. */
export async function streaksOf(db: Db, nodeIds: string[]): Promise<Map<string, number>> {
  if (!nodeIds.length) return new Map();
  const rows = await db.selectFrom('nodes').select(['id', 'streak']).where('id', 'in', [...new Set(nodeIds)]).execute();
  return new Map(rows.map((r) => [r.id, r.streak]));
}

interface RoundResult extends UnitResult {
  unitId: string;
  inputs: string[];
  attemptId: string | null;
  nodeId: string | null;
  lone: boolean;
  trusted: boolean;
}

/**
 * Before round `round` of a job is decided: screens it and checks what the screen names (see
 * above). Returns how many units it withdrew (0: decide the round now).
 */
export async function decideRound(deps: Deps, job: { id: string; round: number; plan: unknown }, workload: Workload, round: RoundResult[]): Promise<number> {
  const sampled = workload.sampled!;
  const lone = round.filter((r) => r.lone);
  if (!lone.length) return 0;
  const flagged = new Set(sampled.screen(job.plan as Record<string, unknown>, round).map((i) => round[i]!).filter((r) => r.lone));
  for (const r of lone) if (!r.trusted) flagged.add(r);
  const failed: RoundResult[] = [];
  const passed: RoundResult[] = [];
  for (const r of flagged) {
    const inputs = await deps.blobs.readMany(r.inputs);
    (await deps.checks.check(workload, r.params, r.inputs.map((sha, k) => ({ sha, bytes: inputs[k]! })), r.result) ? passed : failed).push(r);
  }
  return inTransaction(deps.db, async (trx) => {
    const current = await trx.selectFrom('jobs').select('round').where('id', '=', job.id).where('state', '=', 'running').forUpdate().executeTakeFirst();
    if (current?.round !== job.round) return 0;
    if (passed.length) {
      const ids = passed.map((r) => r.attemptId!);
      await trx.updateTable('attempts').set({ lone: false }).where('id', 'in', ids).execute();
      await recordValid(trx, ids);
    }
    if (!failed.length) return 0;
    const failedIds = failed.map((r) => r.attemptId!);
    await trx.updateTable('attempts').set({ state: 'invalid', lone: false, error: 'the gradient failed its check before the round was decided' }).where('id', 'in', failedIds).execute();
    await recordInvalid(trx, failedIds);
    return withdrawUnchecked(trx, job.id, [...new Set(failed.map((r) => r.nodeId!))], failedIds);
  });
}

/**
 * Everything these nodes, caught with the results `failedIds`, sent unchecked in the job: the
 * current round's results back to the queue (with the units whose check failed), earlier
 * rounds' pays voided. Returns the units reopened.
 */
export async function withdrawUnchecked(trx: Trx, jobId: string, nodeIds: string[], failedIds: string[]): Promise<number> {
  const job = await trx.selectFrom('jobs').select(['id', 'round']).where('id', '=', jobId).executeTakeFirstOrThrow();
  const loneRows = await trx
    .selectFrom('attempts')
    .innerJoin('units', 'units.id', 'attempts.unit_id')
    .select(['attempts.id', 'attempts.unit_id', 'units.round'])
    .where('units.job_id', '=', job.id)
    .where('attempts.node_id', 'in', nodeIds)
    .where('attempts.state', '=', 'valid')
    .where('attempts.lone', '=', true)
    .execute();
  if (loneRows.length) {
    await trx
      .updateTable('attempts')
      .set({ state: 'invalid', lone: false, error: 'withdrawn: unchecked, and its node was caught sending a wrong result in this job' })
      .where('id', 'in', loneRows.map((r) => r.id))
      .execute();
  }
  const units = [
    ...new Set([
      ...loneRows.filter((r) => r.round === job.round).map((r) => r.unit_id),
      ...(await trx.selectFrom('attempts').select('unit_id').where('id', 'in', failedIds).execute()).map((r) => r.unit_id),
    ]),
  ];
  const reopened = units.length
    ? await trx.updateTable('units').set({ state: 'pending', result_sha256: null, verified_at: null }).where('id', 'in', units).where('state', '=', 'verified').returning('id').execute()
    : [];
  if (reopened.length) await sql`update jobs set units_verified = units_verified - ${reopened.length}, updated_at = now() where id = ${job.id}`.execute(trx);
  await settlePays(trx, { attemptIds: [...failedIds, ...loneRows.map((r) => r.id)] });
  return reopened.length;
}

/** The verified units of a job's round, each with its result and the attempt that made it. */
export async function roundResults(deps: Deps, job: { id: string; round: number }): Promise<RoundResult[]> {
  const rows = await deps.db
    .selectFrom('units')
    .leftJoin('attempts', (j) => j.onRef('attempts.unit_id', '=', 'units.id').on('attempts.state', '=', 'valid').on('attempts.known', '=', false))
    .leftJoin('nodes', 'nodes.id', 'attempts.node_id')
    .select(['units.id', 'units.params', 'units.inputs', 'units.result_sha256', 'attempts.id as attemptId', 'attempts.node_id', 'attempts.lone', 'nodes.streak'])
    .where('units.job_id', '=', job.id)
    .where('units.round', '=', job.round)
    .where('units.state', '=', 'verified')
    .orderBy('units.idx')
    .execute();
  // One row per unit: a check-verified unit has one valid attempt.
  const byUnit = new Map<string, (typeof rows)[number]>();
  for (const r of rows) if (!byUnit.has(r.id)) byUnit.set(r.id, r);
  const list = [...byUnit.values()];
  const outputs = await deps.blobs.readMany(list.map((u) => u.result_sha256!));
  return list.map((u, k) => ({
    unitId: u.id,
    params: u.params as Record<string, unknown>,
    inputs: u.inputs as string[],
    result: outputs[k]!,
    attemptId: u.attemptId,
    nodeId: u.node_id,
    lone: !!u.lone,
    trusted: (u.streak ?? 0) >= trustedStreakMin,
  }));
}
