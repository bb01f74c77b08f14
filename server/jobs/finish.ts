import { sql } from 'kysely';
import type { Deps } from '../context.ts';
import { inTransaction, type Db, type Trx } from '../db/index.ts';
import { closeJobLedger, reconcileLedger } from '../ledger/payments.ts';
import { workloads } from '../../workloads/coordinator.ts';
import type { Out, UnitDraft, UnitResult, Workload } from '../../workloads/types.ts';
import { confirmLone } from '../verify/adaptive.ts';
import { decideRound, roundResults } from '../verify/sampled.ts';
import { queueWebhook } from './webhooks.ts';

/** unit pending ─▶ failed, and its job ─▶ failed; open attempts of the job are cancelled. */
export async function failJobOfUnit(trx: Trx, unitId: string, jobId: string, reason: string) {
  await trx.updateTable('units').set({ state: 'failed' }).where('id', '=', unitId).where('state', '=', 'pending').execute();
  await failJob(trx, jobId, `A unit failed: ${reason}.`);
}

/** queued | running ─▶ failed, saying why; open attempts are cancelled, the escrow settled. */
export async function failJob(trx: Trx, jobId: string, error: string) {
  await trx
    .updateTable('jobs')
    .set({ state: 'failed', error, finished_at: new Date(), updated_at: new Date() })
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
 *
 * A job with rounds (Workload.advance) goes round by round instead:
 *   round r ─its units all verified─▶ advance ─units─▶ round r + 1 (units inserted, the plan
 *   moved on, in one transaction guarded on the round: a second caller changes nothing)
 *                                             ─result─▶ done, as above.
 * advance may store blobs before that transaction; a crash between leaves only unreferenced
 * blobs, and the next sweep advances again from the same round (advance is a function of the
 * plan and the round's results).
 */
export async function assembleJob(deps: Deps, jobId: string) {
  const job = await deps.db.selectFrom('jobs').selectAll().where('id', '=', jobId).executeTakeFirst();
  if (!job || job.state !== 'running' || job.units_verified !== job.units_total) return;
  if (job.verification === 'replicate' && (await inTransaction(deps.db, (trx) => confirmLone(trx, jobId))) > 0) {
    deps.onWork(); // unconfirmed lone results wait for a second replica
    return;
  }
  const workload = workloads[job.kind]!;
  let results: UnitResult[];
  if (workload.sampled) {
    const round = await roundResults(deps, job);
    // Lone results the screen names are checked before the round is decided; a caught node's are withdrawn.
    if ((await decideRound(deps, job, workload, round)) > 0) {
      deps.onWork();
      return;
    }
    results = round;
  } else {
    const units = await deps.db
      .selectFrom('units')
      .select(['params', 'result_sha256'])
      .where('job_id', '=', jobId)
      .where('state', '=', 'verified')
      .$if(!!workload.advance, (q) => q.where('round', '=', job.round))
      .orderBy('idx')
      .execute();
    const outputs = await deps.blobs.readMany(units.map((u) => u.result_sha256!));
    results = units.map((u, k) => ({ params: u.params as Record<string, unknown>, result: outputs[k]! }));
  }
  let out: Out;
  let plan = job.plan as Record<string, unknown>;
  if (workload.advance) {
    let next: Awaited<ReturnType<NonNullable<Workload['advance']>>>;
    try {
      next = await workload.advance(plan, results, deps.blobs, job.account_id);
    } catch (err) {
      await inTransaction(deps.db, (trx) => failJob(trx, jobId, `Round ${job.round + 1} could not be decided: ${(err as Error).message}`));
      return;
    }
    plan = next.plan;
    if ('units' in next) {
      const moved = await inTransaction(deps.db, async (trx) => {
        const moved = await trx
          .updateTable('jobs')
          .set({ plan: JSON.stringify(plan), round: job.round + 1, round_deadline_at: roundDeadline(workload, plan), units_total: job.units_total + next.units.length, updated_at: new Date() })
          .where('id', '=', jobId)
          .where('state', '=', 'running')
          .where('round', '=', job.round)
          .where('units_verified', '=', job.units_total)
          .returning('id')
          .executeTakeFirst();
        if (!moved) return false;
        // After dropped stragglers (still rows, with their idx) the next idx is past the last, not units_total.
        const last = await trx.selectFrom('units').select((eb) => eb.fn.max('idx').as('idx')).where('job_id', '=', jobId).executeTakeFirst();
        await insertUnits(trx, job, next.units, Number(last?.idx ?? -1) + 1, job.round + 1);
        return !!moved;
      });
      if (moved) deps.onWork();
      return;
    }
    out = next.result;
  } else {
    out = workload.assemble!(plan, results);
  }
  const { sha256 } = await deps.blobs.put(out.bytes, job.account_id);
  await inTransaction(deps.db, async (trx) => {
    const done = await trx
      .updateTable('jobs')
      .set({ state: 'done', plan: JSON.stringify(plan), result_sha256: sha256, result_type: out.contentType, result_extension: out.extension, finished_at: new Date(), updated_at: new Date() })
      .where('id', '=', jobId)
      .where('state', '=', 'running')
      .where('round', '=', job.round)
      // A re-check that reopened a unit meanwhile took the count down: then no result now.
      .where('units_verified', '=', job.units_total)
      .returning('id')
      .executeTakeFirst();
    if (!done) return;
    await closeJobLedger(trx, jobId); // pays posted, the rest of the escrow returns
    await queueWebhook(trx, jobId);
  });
}

/** When a round made now goes on without its stragglers (null: a job without rounds, or a workload without deadlines). */
export function roundDeadline(workload: Workload, plan: Record<string, unknown>): Date | null {
  const ms = workload.advance && workload.roundDeadlineMs?.(plan);
  return ms ? new Date(Date.now() + ms) : null;
}

const insertBatch = 500;

/** A job's units as rows, `idx` counting on from `from`, in batches (PostgreSQL caps a statement's parameters). */
export async function insertUnits(trx: Trx, job: { id: string; replication: number }, units: UnitDraft[], from: number, round = 0) {
  for (let i = 0; i < units.length; i += insertBatch) {
    const rows = units.slice(i, i + insertBatch).map((u, j) => ({ job_id: job.id, idx: from + i + j, params: JSON.stringify(u.params), inputs: JSON.stringify(u.inputs), flops: u.flops, state: 'pending' as const, replicas: job.replication, round }));
    await trx.insertInto('units').values(rows).execute();
  }
  const flops = units.reduce((sum, u) => sum + u.flops, 0);
  if (flops > 0) await trx.updateTable('jobs').set((eb) => ({ units_flops: eb('units_flops', '+', flops) })).where('id', '=', job.id).execute();
}

/**
 * Units a job's submission writes in one transaction. A large job's are written a chunk a
 * transaction (writeUnits), and the store serves claims, results and reads between them:
 * written in one, a 20,000-unit job held PGlite's one connection and the event loop for its
 * whole submission, and everything else on the coordinator waited: a read of another job 1,443 ms
 * against 486 now (npm run bench:submit, medians of three side by side). 1,000 units are two
 * inserts and ~0.1 s here; chunks of 2,000 left reads waiting up to ~0.6 s against ~0.45-0.55.
 */
export const unitsPerWrite = 1000;
/** How long a job's writing may pause before the sweeper takes its coordinator for dead. */
export const writingLeaseMs = 60_000;

/**
 * The units of a submitted job after its first `from`, a chunk (unitsPerWrite) a transaction.
 * Nodes may lease the units written while the rest are written: the job cannot complete before
 * all are (units_total counts them all). Each chunk renews `writing_until`, the last clears
 * it; a job cancelled meanwhile stops the writing (returns false). A job left half-written by
 * a coordinator that died is failed by the sweeper (failUnwritten).
 */
export async function writeUnits(db: Db, job: { id: string; replication: number }, units: UnitDraft[], from: number): Promise<boolean> {
  for (let i = from; i < units.length; i += unitsPerWrite) {
    // Let the event loop read its sockets first: on PGlite a chunk's statements run on this
    // thread, and their promises alone never let it reach them (a read of another job waited
    // for the whole job, chunks or not).
    await new Promise((resolve) => setImmediate(resolve));
    const last = i + unitsPerWrite >= units.length;
    const open = await inTransaction(db, async (trx) => {
      await insertUnits(trx, job, units.slice(i, i + unitsPerWrite), i);
      const live = await trx
        .updateTable('jobs')
        .set({ writing_until: last ? null : new Date(Date.now() + writingLeaseMs) })
        .where('id', '=', job.id)
        .where('state', 'in', ['queued', 'running'])
        .returning('id')
        .executeTakeFirst();
      if (!live) throw new JobGone();
      return true;
    }).catch((err) => {
      if (err instanceof JobGone) return false;
      throw err;
    });
    if (!open) return false;
  }
  return true;
}

class JobGone extends Error {}

/** Open jobs whose writing stopped (writeUnits) ─▶ failed, their escrow back. */
export async function failUnwritten(db: Db) {
  const stopped = await db.selectFrom('jobs').select('id').where('writing_until', '<', new Date()).where('state', 'in', ['queued', 'running']).execute();
  for (const job of stopped) {
    await inTransaction(db, (trx) => failJob(trx, job.id, 'The coordinator stopped while this job\'s units were being written. Submit it again: the escrow not spent is back in your wallet.'));
  }
}

/**
 * The ledger's safety net (reconcileLedger) runs at most this often, not with every sweep (1 s):
 * it walks every open pay, and a replicate job's pays stay open until the job ends (two a unit:
 * 200,000 rows for a 100,000-unit job, walked every second on PGlite's one connection). The
 * transactions settle pays as verdicts come; the net is for what a crash left.
 */
const reconcileEveryMs = 60_000;
const reconciled = new WeakMap<Deps, number>();

/** The sweeper's other duties: finish jobs left complete, settle the ledger's loose ends. (A
 * unit that failed on many nodes fails its job where the failure arrives: failAttempt.) */
export async function sweepJobs(deps: Deps) {
  await failUnwritten(deps.db);
  await dropStragglers(deps);
  const complete = await deps.db.selectFrom('jobs').select('id').where('state', '=', 'running').whereRef('units_verified', '=', 'units_total').execute();
  for (const job of complete) await assembleJob(deps, job.id);
  if (Date.now() - (reconciled.get(deps) ?? 0) < reconcileEveryMs) return;
  reconciled.set(deps, Date.now());
  await reconcileLedger(deps.db);
}

/**
 * A job with rounds whose round has run past its deadline (Workload.roundDeadlineMs) with at
 * least half its units verified goes on without the rest: they are cancelled (their nodes told)
 * and no longer counted in the job's units, and the round is decided on the units that came
 * (train divides by the rows it got: the mean over fewer rows is still an unbiased estimate of
 * the batch's gradient). Under half, the round waits: leases that lapse are leased again, and a
 * round of mostly missing shards would be a different batch, not a late one.
 */
export async function dropStragglers(deps: Deps) {
  const late = await deps.db
    .selectFrom('jobs')
    .select(['id', 'round'])
    .where('state', '=', 'running')
    .where('round_deadline_at', '<', new Date())
    .whereRef('units_verified', '<', 'units_total')
    .execute();
  for (const job of late) {
    const cancelled = await inTransaction(deps.db, async (trx) => {
      const units = await trx.selectFrom('units').select(['id', 'state', 'flops']).where('job_id', '=', job.id).where('round', '=', job.round).forUpdate().execute();
      const pending = units.filter((u) => u.state === 'pending').map((u) => u.id);
      const droppedFlops = units.reduce((sum, u) => sum + (u.state === 'pending' ? u.flops : 0), 0);
      const verified = units.filter((u) => u.state === 'verified').length;
      if (!pending.length || verified * 2 < units.length) return null;
      await trx.updateTable('units').set({ state: 'cancelled' }).where('id', 'in', pending).execute();
      const dropped = await trx.updateTable('jobs').set((eb) => ({ units_total: eb('units_total', '-', pending.length), units_planned: eb('units_planned', '-', pending.length), units_flops: sql<number>`greatest(units_flops - ${droppedFlops}, 0)`, updated_at: new Date() })).where('id', '=', job.id).where('round', '=', job.round).returning('id').executeTakeFirst();
      if (!dropped) throw new Error('the round moved on meanwhile');
      const attempts = await trx.updateTable('attempts').set({ state: 'cancelled', error: 'the round went on without it (past its deadline)' }).where('unit_id', 'in', pending).where('state', 'in', ['leased', 'returned']).returning(['id', 'node_id']).execute();
      return attempts.map((a) => ({ id: a.id, nodeId: a.node_id }));
    }).catch(() => null);
    if (!cancelled) continue;
    deps.signals.cancel(cancelled, 'the round went on without it');
    await assembleJob(deps, job.id);
  }
}
