/**
 * Jobs with rounds (#16, `train`): the units of round r + 1 exist only once round r is decided
 * (workloads/types.ts, Workload.advance). `round`: the job's current round and each unit's;
 * `round_deadline_at`: when the current round goes on without its last units (Workload.roundDeadlineMs
 * after they were made; the sweeper's query finds late rounds by it alone);
 * `units_planned`: the units the whole job will have had, as shard foresaw them, so that a
 * claim prices a unit at the job's mean (flops / units_planned), not at flops / the units made
 * so far.
 */
export const up = /* sql */ `
alter table jobs add column round int not null default 0;
alter table jobs add column round_deadline_at timestamptz;
create index jobs_round_deadline on jobs (round_deadline_at) where state = 'running' and round_deadline_at is not null;
alter table jobs add column units_planned int;
alter table units add column round int not null default 0;
`;
