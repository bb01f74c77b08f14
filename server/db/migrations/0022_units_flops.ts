/**
 * The market's demand from the jobs' rows (server/market/price.ts): each job keeps the FLOPs of
 * its units (those inserted, less those a round dropped), so demand is a sum over open jobs,
 * not over every pending unit and its attempts (42 ms a tick on PGlite at 10,000 queued, and
 * again for each GET /api/market).
 */
export const up = /* sql */ `
alter table jobs add column units_flops double precision not null default 0 check (units_flops >= 0);
update jobs j set units_flops = coalesce((select sum(u.flops) from units u where u.job_id = j.id and u.state <> 'cancelled'), 0);
`;
