import { timingSafeEqual } from 'node:crypto';
import type { Deps } from '../context.ts';
import type { Db, Trx } from '../db/index.ts';
import { failJobOfUnit } from '../jobs/finish.ts';
import { workloads } from '../workloads/registry.ts';
import { decide, type Returned } from '../verify/replicate.ts';

export type Outcome =
  | { status: 'accepted'; jobComplete: string | null; newWork: boolean; decided: string[] }
  | { status: 'refused'; reason: string };

const sameToken = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * A node's result for an attempt. The fence: it counts only with the token of the lease that
 * is current now (state 'leased', deadline not passed), so a node whose lease lapsed and was
 * re-issued cannot land a stale result, and a retry of an accepted result changes nothing.
 * The unit's row is locked while its replicas are compared, so one process decides it once.
 */
export async function acceptResult(deps: Deps, holder: string, attemptId: string, token: string, output: string): Promise<Outcome> {
  if (!(await deps.blobs.has(output))) return { status: 'refused', reason: 'upload the output blob (PUT /api/blobs) before reporting the result' };
  const bytes = await deps.blobs.read(output);
  return deps.db.transaction().execute(async (trx) => {
    const unit = await trx
      .selectFrom('units')
      .innerJoin('attempts', 'attempts.unit_id', 'units.id')
      .innerJoin('jobs', 'jobs.id', 'units.job_id')
      .select(['units.id', 'units.job_id', 'units.params', 'units.replicas', 'units.state', 'jobs.kind'])
      .where('attempts.id', '=', attemptId)
      .forUpdate('units')
      .executeTakeFirst();
    const attempt = await trx.selectFrom('attempts').selectAll().where('id', '=', attemptId).forUpdate().executeTakeFirst();
    if (!unit || !attempt || attempt.holder !== holder || !sameToken(attempt.token, token)) {
      return { status: 'refused', reason: 'no lease of yours has that attempt id and token' };
    }
    if (attempt.state !== 'leased') return { status: 'refused', reason: `that lease is no longer current (the attempt is ${attempt.state})` };
    if (attempt.deadline.getTime() < Date.now()) {
      await trx.updateTable('attempts').set({ state: 'expired', error: 'result came after the deadline' }).where('id', '=', attemptId).execute();
      return { status: 'refused', reason: 'the lease expired before the result came' };
    }
    const workload = workloads[unit.kind]!;
    const params = unit.params as Record<string, unknown>;
    const problem = workload.malformed(params, bytes);
    if (problem) {
      await trx.updateTable('attempts').set({ state: 'invalid', error: problem, result_sha256: output, returned_at: new Date() }).where('id', '=', attemptId).execute();
      return { status: 'refused', reason: problem };
    }
    await trx.updateTable('attempts').set({ state: 'returned', result_sha256: output, returned_at: new Date() }).where('id', '=', attemptId).execute();
    return decideUnit(deps, trx, unit, (x, y) => workload.agree(params, x, y));
  });
}

async function decideUnit(
  deps: Deps,
  trx: Trx,
  unit: { id: string; job_id: string; replicas: number },
  agree: (x: Uint8Array, y: Uint8Array) => boolean,
): Promise<Outcome> {
  const rows = await trx.selectFrom('attempts').select(['id', 'holder', 'result_sha256']).where('unit_id', '=', unit.id).where('state', '=', 'returned').orderBy('returned_at').execute();
  const returned: Returned[] = [];
  for (const r of rows) returned.push({ id: r.id, holder: r.holder, sha256: r.result_sha256!, bytes: await deps.blobs.readKnown(r.result_sha256!) });
  const decision = decide(returned, unit.replicas, agree);
  switch (decision.kind) {
    case 'wait':
      return { status: 'accepted', jobComplete: null, newWork: false, decided: [] };
    case 'escalate':
      await trx.updateTable('units').set({ replicas: decision.replicas }).where('id', '=', unit.id).execute();
      return { status: 'accepted', jobComplete: null, newWork: true, decided: [] };
    case 'failed': {
      await failJobOfUnit(trx, unit.id, unit.job_id, decision.reason);
      return { status: 'accepted', jobComplete: null, newWork: false, decided: [unit.id] };
    }
    case 'verified': {
      const now = new Date();
      await trx.updateTable('units').set({ state: 'verified', result_sha256: decision.accepted.sha256, verified_at: now }).where('id', '=', unit.id).where('state', '=', 'pending').execute();
      await trx.updateTable('attempts').set({ state: 'valid' }).where('id', 'in', decision.valid).execute();
      if (decision.invalid.length) {
        await trx.updateTable('attempts').set({ state: 'invalid', error: 'disagreed with the verified result' }).where('id', 'in', decision.invalid).execute();
      }
      await trx.updateTable('attempts').set({ state: 'cancelled', error: 'unit verified without this replica' }).where('unit_id', '=', unit.id).where('state', '=', 'leased').execute();
      const job = await trx
        .updateTable('jobs')
        .set((eb) => ({ units_verified: eb('units_verified', '+', 1), updated_at: now }))
        .where('id', '=', unit.job_id)
        .returning(['units_verified', 'units_total'])
        .executeTakeFirstOrThrow();
      return { status: 'accepted', jobComplete: job.units_verified === job.units_total ? unit.job_id : null, newWork: false, decided: [unit.id] };
    }
  }
}

/** leased ─node reports an error─▶ failed; the unit goes back to the queue. */
export async function failAttempt(db: Db, holder: string, attemptId: string, token: string, reason: string): Promise<boolean> {
  const row = await db
    .updateTable('attempts')
    .set({ state: 'failed', error: reason.slice(0, 2000) })
    .where('id', '=', attemptId)
    .where('holder', '=', holder)
    .where('token', '=', token)
    .where('state', '=', 'leased')
    .returning('id')
    .executeTakeFirst();
  return !!row;
}
