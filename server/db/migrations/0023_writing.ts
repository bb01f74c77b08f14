/**
 * A large job's units are written a chunk a transaction (server/jobs/finish.ts, writeUnits):
 * `writing_until` is set while chunks are still to come, renewed by each, and cleared by the
 * last. A job whose writing stopped (its coordinator died mid-submission) is failed by the
 * sweeper once it passes.
 */
export const up = /* sql */ `
alter table jobs add column writing_until timestamptz;
create index jobs_writing on jobs (writing_until) where writing_until is not null;
`;
