import type { Selectable } from 'kysely';
import type { Database } from '../db/schema.ts';

type JobRow = Selectable<Database['jobs']>;

/** A job as the API shows it. Credits are 0 until the ledger lands. */
export function jobView(job: JobRow) {
  return {
    id: job.id,
    kind: job.kind,
    state: job.state,
    spec: job.spec,
    verification: job.verification,
    replication: job.replication,
    progress: { units: job.units_total, verified: job.units_verified },
    estimate: { flops: job.flops * job.replication, credits: 0 },
    cost: { credits: 0 },
    error: job.error,
    result: job.state === 'done' ? `/api/jobs/${job.id}/result` : null,
    createdAt: job.created_at,
    finishedAt: job.finished_at,
  };
}
