import type { Deps } from '../context.ts';
import { inTransaction, type Db, type Trx } from '../db/index.ts';
import { closeJobLedger, reconcileLedger } from '../ledger/payments.ts';
import { workloads } from '../../workloads/coordinator.ts';
import { confirmLone } from '../verify/adaptive.ts';
import { queueWebhook } from './webhooks.ts';

/** unit pending ─▶ failed, and its job ─▶ failed; open attempts of the job are cancelled. */
export async function failJobOfUnit(trx: Trx, unitId: string, jobId: string, reason: string) {
  await trx.updateTable('units').set({ state: 'failed' }).where('id', '=', unitId).where('state', '=', 'pending').execute();
  await trx
    .updateTable('jobs')
    .set({ state: 'failed', error: `A unit failed: ${reason}.`, finished_at: new Date(), updated_at: new Date() })
    .where('id', '=', jobId)
    .where('state', 'in', ['queued', 'running'])
    .execute();
  await cancelOpenWork(trx, jobId, 'the job failed');
  await closeJobLedger(trx, jobId);
  await queueWebhook(trx, jobId);
}

/** queued | running ─▶ cancelled. Returns the attempts it cancelled (their nodes are told), or
 * null when the job had already ended. */
export async function cancelJob(db: Db, jobId: string): Promise<{ id: string; nodeId: string | null }[] | null> {
  return inTransaction(db, async (trx) => {
    const job = await trx
      .updateTable('jobs')
      .set({ state: 'cancelled', finished_at: new Date(), updated_at: new Date() })
      .where('id', '=', jobId)
      .where('state', 'in', ['queued', 'running'])
      .returning('id')
      .executeTakeFirst();
    if (!job) return null;
    const cancelled = await cancelOpenWork(trx, jobId, 'the job was cancelled');
    await closeJobLedger(trx, jobId); // valid work is paid, the rest of the escrow returns
    await queueWebhook(trx, jobId);
    return cancelled;
  });
}

async function cancelOpenWork(trx: Trx, jobId: string, why: string) {
  const units = trx.selectFrom('units').select('id').where('job_id', '=', jobId);
  await trx.updateTable('units').set({ state: 'cancelled' }).where('job_id', '=', jobId).where('state', '=', 'pending').execute();
  const rows = await trx.updateTable('attempts').set({ state: 'cancelled', error: why }).where('unit_id', 'in', units).where('state', 'in', ['leased', 'returned']).returning(['id', 'node_id']).execute();
  return rows.map((r) => ({ id: r.id, nodeId: r.node_id }));
}

/**
 * running ─all units verified─▶ done: builds the result from the verified tiles, stores it
 * as a blob, then flips the job in one guarded UPDATE. Idempotent: after a crash between the
 * two steps the sweeper runs it again and the blob store dedups the bytes.
 */
export async function assembleJob(deps: Deps, jobId: string) {
  const job = await deps.db.selectFrom('jobs').selectAll().where('id', '=', jobId).executeTakeFirst();
  if (!job || job.state !== 'running' || job.units_verified !== job.units_total) return;
  if (job.verification === 'replicate' && (await inTransaction(deps.db, (trx) => confirmLone(trx, jobId))) > 0) {
    deps.onWork(); // unconfirmed lone results wait for a second replica
    return;
  }
  const units = await deps.db.selectFrom('units').select(['params', 'result_sha256']).where('job_id', '=', jobId).where('state', '=', 'verified').orderBy('idx').execute();
  const outputs = await deps.blobs.readMany(units.map((u) => u.result_sha256!));
  const results = units.map((u, k) => ({ params: u.params as Record<string, unknown>, result: outputs[k]! }));
  const out = workloads[job.kind]!.assemble(job.plan as Record<string, unknown>, results);
  const { sha256 } = await deps.blobs.put(out.bytes, job.account_id);
  await inTransaction(deps.db, async (trx) => {
    const done = await trx
      .updateTable('jobs')
      .set({ state: 'done', result_sha256: sha256, result_type: out.contentType, result_extension: out.extension, finished_at: new Date(), updated_at: new Date() })
      .where('id', '=', jobId)
      .where('state', '=', 'running')
      // A re-check that reopened a unit meanwhile took the count down: then no result now.
      .where('units_verified', '=', job.units_total)
      .returning('id')
      .executeTakeFirst();
    if (!done) return;
    await closeJobLedger(trx, jobId); // pays posted, the rest of the escrow returns
    await queueWebhook(trx, jobId);
  });
}

/** The sweeper's other duties: finish jobs left complete, settle the ledger's loose ends. (A
 * unit that failed on many nodes fails its job where the failure arrives: failAttempt.) */
export async function sweepJobs(deps: Deps) {
  const complete = await deps.db.selectFrom('jobs').select('id').where('state', '=', 'running').whereRef('units_verified', '=', 'units_total').execute();
  for (const job of complete) await assembleJob(deps, job.id);
  await reconcileLedger(deps.db);
}
