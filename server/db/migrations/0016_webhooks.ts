/**
 * A job may name a URL to be told when it ends (done, failed or cancelled). The delivery is a
 * row written in the transaction that ends the job, so none is lost to a crash; the sweeper sends
 * it, signed with the account's secret (Standard Webhooks), and tries again on failure.
 *
 *   pending ─2xx─▶ delivered
 *      │ ─other answer, no answer─▶ pending, next_at later (6 tries) ─▶ failed
 *      └ ─refused address─▶ failed
 */
export const up = /* sql */ `
alter table jobs add column webhook_url text check (length(webhook_url) <= 2000);
alter table accounts add column webhook_secret text;
create table webhook_deliveries (
  id uuid primary key default gen_random_uuid(),
  job_id uuid not null unique references jobs(id) on delete cascade,
  event text not null,
  url text not null,
  state text not null default 'pending' check (state in ('pending', 'delivered', 'failed')),
  attempts int not null default 0,
  next_at timestamptz not null default now(),
  last_status int,
  last_error text,
  created_at timestamptz not null default now(),
  delivered_at timestamptz
);
create index webhook_deliveries_due on webhook_deliveries (next_at) where state = 'pending';
`;
