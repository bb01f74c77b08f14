/**
 * The first schema. Migrations are numbered and append-only: never edit a landed one,
 * add the next number. The state columns' checks are the state machines' state sets;
 * the moves between them are written down where they happen (server/jobs/, server/nodes/).
 */
export const up = /* sql */ `
create table accounts (
  id uuid primary key default gen_random_uuid(),
  email text not null unique check (email = lower(email) and length(email) between 3 and 254),
  password_hash text not null,
  created_at timestamptz not null default now()
);

-- Failed sign-ins, kept by email (known or not, so both answer alike) and by address.
create table login_failures (
  id uuid primary key default gen_random_uuid(),
  email text not null,
  ip text not null,
  at timestamptz not null default now()
);
create index login_failures_email_at on login_failures (email, at);

create table sessions (
  id_hash text primary key,
  account_id uuid not null references accounts on delete cascade,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null
);

create table api_keys (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references accounts on delete cascade,
  name text not null check (length(name) between 1 and 100),
  key_hash text not null unique,
  prefix text not null,
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);

create table blobs (
  sha256 text primary key check (sha256 ~ '^[0-9a-f]{64}$'),
  size bigint not null check (size >= 0),
  account_id uuid references accounts on delete set null,
  created_at timestamptz not null default now()
);

create table jobs (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references accounts,
  kind text not null,
  spec jsonb not null,
  plan jsonb not null,
  state text not null check (state in ('queued', 'running', 'done', 'failed', 'cancelled')),
  replication int not null check (replication between 1 and 5),
  units_total int not null check (units_total > 0),
  units_verified int not null default 0 check (units_verified between 0 and units_total),
  flops double precision not null check (flops >= 0),
  result_sha256 text references blobs,
  error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz
);
create index jobs_account on jobs (account_id, created_at desc);
create index jobs_open on jobs (created_at) where state in ('queued', 'running');

create table units (
  id uuid primary key default gen_random_uuid(),
  job_id uuid not null references jobs on delete cascade,
  idx int not null,
  params jsonb not null,
  inputs jsonb not null,
  flops double precision not null check (flops >= 0),
  state text not null check (state in ('pending', 'verified', 'failed', 'cancelled')),
  replicas int not null check (replicas between 1 and 8),
  result_sha256 text references blobs,
  created_at timestamptz not null default now(),
  verified_at timestamptz,
  unique (job_id, idx),
  check ((state = 'verified') = (result_sha256 is not null))
);
create index units_pending on units (job_id, idx) where state = 'pending';

create table nodes (
  id uuid primary key default gen_random_uuid(),
  account_id uuid references accounts on delete set null,
  token_hash text not null unique,
  name text not null,
  caps jsonb not null,
  gflops double precision not null check (gflops >= 0),
  connected_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  disconnected_at timestamptz
);

-- An attempt in state 'leased' is the lease: holder, token (the fence) and deadline.
create table attempts (
  id uuid primary key default gen_random_uuid(),
  unit_id uuid not null references units on delete cascade,
  node_id uuid not null references nodes,
  holder text not null,
  token text not null,
  state text not null check (state in ('leased', 'returned', 'valid', 'invalid', 'expired', 'failed', 'cancelled')),
  deadline timestamptz not null,
  result_sha256 text references blobs,
  error text,
  created_at timestamptz not null default now(),
  returned_at timestamptz
);
create index attempts_unit on attempts (unit_id);
create index attempts_leased on attempts (deadline) where state = 'leased';
-- Never two replicas of one unit to one account (or one anonymous node).
create unique index attempts_one_per_holder on attempts (unit_id, holder)
  where state in ('leased', 'returned', 'valid', 'invalid');
`;
