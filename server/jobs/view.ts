import type { Selectable } from 'kysely';
import type { Db } from '../db/index.ts';
import type { Database } from '../db/schema.ts';
import { toCredits } from '../ledger/credit.ts';
import { escrowsOf, escrowView } from '../ledger/views.ts';

type JobRow = Selectable<Database['jobs']>;

/** Jobs as the API shows them, with their money: bid, estimate, escrow, paid, pending, refunded. */
export async function jobViews(db: Db, jobs: JobRow[]) {
  const escrows = await escrowsOf(db, jobs.map((j) => j.id));
  return jobs.map((job) => {
    const escrow = escrows.get(job.id)!;
    const cost = escrowView(job, escrow.account, escrow.refunded);
    const executions = job.verification === 'check' ? 1 : job.replication;
    return {
      id: job.id,
      kind: job.kind,
      state: job.state,
      spec: job.spec,
      verification: job.verification,
      replication: job.replication,
      progress: { units: job.units_total, verified: job.units_verified },
      bid: toCredits(job.bid),
      estimate: { flops: job.flops * executions, credits: toCredits(job.estimate) },
      /** `credits`: paid to contributors so far (verified work, replicas included). */
      cost: { credits: cost.paid, ...cost },
      error: job.error,
      result: job.state === 'done' ? `/api/jobs/${job.id}/result` : null,
      createdAt: job.created_at,
      finishedAt: job.finished_at,
    };
  });
}
