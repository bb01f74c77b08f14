/**
 * Jobs with rounds (#16, `train`): the units of round r + 1 exist only once round r is decided
 * (workloads/types.ts, Workload.advance). `round`: the job's current round and each unit's;
 * `round_started_at`: when the current round's units were made (its deadline counts from it);
 * `units_planned`: the units the whole job will have had, as shard foresaw them, so that a
 * claim prices a unit at the job's mean (flops / units_planned), not at flops / the units made
 * so far.
 */
export const up = /* sql */ `
alter table jobs add column round int not null default 0;
alter table jobs add column round_started_at timestamptz;
alter table jobs add column units_planned int;
alter table units add column round int not null default 0;
`;
