/**
 * Sites that embed the widget, and the widget's own tokens.
 * sites: a site owner's registration; `key` is public (it is in the embedding page), `origins`
 * the exact origins allowed to frame the widget (JSON array), `throttle` the owner's cap on a
 * visitor's GPU share. widget_sessions: a token the widget's iframe gets for itself (it cannot
 * use the coordinator's session cookie in a cross-site frame); it lets a node earn for the site's
 * owner and nothing else. nodes.site_id: the site a widget node works for.
 */
export const up = /* sql */ `
create table sites (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references accounts(id),
  name text not null,
  key text not null unique,
  origins jsonb not null,
  throttle real not null default 0.5 check (throttle > 0 and throttle <= 1),
  created_at timestamptz not null default now(),
  deleted_at timestamptz
);
create index sites_account on sites (account_id);
create table widget_sessions (
  id uuid primary key default gen_random_uuid(),
  site_id uuid not null references sites(id),
  token_hash text not null unique,
  origin text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null
);
alter table nodes add column site_id uuid references sites(id);
`;
