/**
 * Adaptive replication. attempts.lone marks a unit run by a trusted node alone (no replica);
 * nodes.spot_ok_at is when the node last passed a spot check (a result of its that agreed with
 * an independent one). A lone result is confirmed once its node passes a spot check leased
 * after it; until then the job cannot complete (server/verify/adaptive.ts).
 */
export const up = /* sql */ `
alter table attempts add column lone boolean not null default false;
alter table nodes add column spot_ok_at timestamptz;
`;
