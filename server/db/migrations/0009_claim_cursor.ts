/**
 * Where a job's queue walk starts (server/nodes/queue.ts): every pending unit before it was in
 * flight when a claim passed it. Claims move it forward; the sweeper moves it back to the first
 * unit that can be claimed again (a lapsed, failed or released lease), once a second.
 */
export const up = /* sql */ `
alter table jobs add column claim_from integer not null default 0;
`;
