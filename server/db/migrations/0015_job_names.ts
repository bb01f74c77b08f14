/**
 * Jobs get a name and tags of the developer's, so a list of jobs reads as work, not as UUIDs,
 * and can be filtered by tag (GET /api/jobs?tag=…). Jobs from before have none.
 */
export const up = /* sql */ `
alter table jobs add column name text check (length(name) between 1 and 100);
alter table jobs add column tags text[] not null default '{}';
`;
