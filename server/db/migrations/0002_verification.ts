/**
 * Verification policies and reputation.
 * jobs.verification: 'freivalds' (a cheap independent check of each result: one execution per
 * unit) or 'replicate' (agreeing replicas from different accounts). Jobs before this migration
 * were replicated.
 * nodes and accounts keep valid / invalid / expired counts; nodes a streak of consecutive valid
 * results (their trust, server/verify/reputation.ts); accounts their offences and quarantine.
 */
export const up = /* sql */ `
alter table jobs add column verification text not null default 'replicate'
  check (verification in ('freivalds', 'replicate'));

alter table nodes add column valid int not null default 0 check (valid >= 0);
alter table nodes add column invalid int not null default 0 check (invalid >= 0);
alter table nodes add column expired int not null default 0 check (expired >= 0);
alter table nodes add column streak int not null default 0 check (streak >= 0);
alter table nodes add column quarantined_at timestamptz;

alter table accounts add column valid int not null default 0 check (valid >= 0);
alter table accounts add column invalid int not null default 0 check (invalid >= 0);
alter table accounts add column expired int not null default 0 check (expired >= 0);
alter table accounts add column quarantined_at timestamptz;
`;
