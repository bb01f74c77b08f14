/**
 * The credit ledger (server/ledger/) and the market (server/market/).
 *
 * On TigerBeetle's model: ledger accounts carry four running sums (debits/credits, pending/
 * posted) and transfers are immutable rows whose id is their idempotency key. A pending
 * transfer is resolved at most once — posted or voided — by a later transfer that names it
 * (`pending_id`, unique). Amounts are integer micro-credits (µcr; 1 credit = 10⁶ µcr).
 *
 * The balance cache is updated in the transfer's own transaction; `no_overdraft` makes
 * "no user or escrow balance below zero" a fact of the database, not of the code. Only the
 * system account `treasury` may go negative: its balance is minus the credits in circulation.
 *
 * Tamper evidence: transfers form a hash chain in `seq` order (each row's hash covers the
 * previous hash); `ledger_head` holds the chain's tip and is locked by every transfer, which
 * also serialises ledger writes across coordinator processes. `ledger_checkpoints` are the
 * tip signed with the coordinator's Ed25519 key. A trigger refuses UPDATE and DELETE on
 * transfers (belt and braces: `verify-ledger` catches what a superuser does around it).
 */
export const up = /* sql */ `
create table ledger_accounts (
  id text primary key,
  kind text not null check (kind in ('user', 'escrow', 'system')),
  account_id uuid references accounts,
  job_id uuid references jobs,
  debits_pending bigint not null default 0 check (debits_pending >= 0),
  debits_posted bigint not null default 0 check (debits_posted >= 0),
  credits_pending bigint not null default 0 check (credits_pending >= 0),
  credits_posted bigint not null default 0 check (credits_posted >= 0),
  created_at timestamptz not null default now(),
  constraint no_overdraft check (kind = 'system' or debits_posted + debits_pending <= credits_posted)
);
create unique index ledger_accounts_user on ledger_accounts (account_id) where kind = 'user';
-- Escrows with credits left: what the sweeper may have to refund once their job has ended.
create index ledger_accounts_escrow_left on ledger_accounts (job_id)
  where kind = 'escrow' and credits_posted - debits_posted - debits_pending > 0;

create table transfers (
  seq bigint primary key,
  id text not null unique,
  debit_account_id text not null references ledger_accounts,
  credit_account_id text not null references ledger_accounts,
  amount bigint not null check (amount > 0),
  kind text not null check (kind in ('single', 'pending', 'post', 'void')),
  pending_id text references transfers (id),
  code text not null,
  job_id uuid,
  attempt_id uuid,
  timeout_at timestamptz,
  memo text,
  created_at timestamptz not null,
  prev_hash text not null,
  hash text not null,
  check (debit_account_id <> credit_account_id),
  check ((kind in ('post', 'void')) = (pending_id is not null))
);
create unique index transfers_resolved_once on transfers (pending_id) where pending_id is not null;
create index transfers_debit on transfers (debit_account_id, seq);
create index transfers_credit on transfers (credit_account_id, seq);
create index transfers_attempt on transfers (attempt_id) where attempt_id is not null;
create index transfers_open on transfers (timeout_at) where kind = 'pending';

-- The pending transfers not yet posted or voided: a small mutable index of open ones (rows
-- leave it when resolved), so that settling and expiring never scan the whole history.
create table transfers_pending (
  id text primary key references transfers (id),
  timeout_at timestamptz,
  job_id uuid,
  attempt_id uuid
);
create index transfers_pending_job on transfers_pending (job_id);
create index transfers_pending_attempt on transfers_pending (attempt_id);
create index transfers_pending_timeout on transfers_pending (timeout_at);

create function transfers_immutable() returns trigger language plpgsql as $$
begin
  raise exception 'ledger transfers are immutable (% refused)', tg_op;
end $$;
create trigger transfers_immutable before update or delete on transfers
  for each row execute function transfers_immutable();

create table ledger_head (
  one boolean primary key default true check (one),
  seq bigint not null,
  hash text not null
);
insert into ledger_head (seq, hash) values (0, repeat('0', 64));
insert into ledger_accounts (id, kind) values ('treasury', 'system');

create table ledger_checkpoints (
  seq bigint primary key,
  hash text not null,
  at timestamptz not null,
  public_key text not null,
  signature text not null
);

alter table jobs add column bid bigint not null default 1000000;
alter table jobs add column escrow bigint not null default 0;
alter table jobs add column estimate bigint not null default 0;
alter table nodes add column ask bigint not null default 0;

create table market_prices (
  id bigserial primary key,
  at timestamptz not null default now(),
  price bigint not null,
  demand_flops double precision not null,
  supply_gflops double precision not null
);
`;
