/**
 * What an account has earned, kept on its ledger row as transfers post (server/ledger/ledger.ts
 * `write`, checked by `auditLedger`): pays posted for verified work and vetting pays. The wallet
 * and the leaderboard summed every such transfer of the account (of every account, for the
 * leaderboard) on each read, a cost that grew with its history — a site owner's account earns
 * from every tab of its widget. The index serves the leaderboard's order.
 */
export const up = /* sql */ `
alter table ledger_accounts add column earned bigint not null default 0;
update ledger_accounts a set earned = s.earned
  from (select credit_account_id as id, sum(amount)::int8 as earned from transfers
        where (kind = 'post' and code = 'verified') or code = 'vetting' group by credit_account_id) s
  where a.id = s.id;
create index ledger_accounts_earned on ledger_accounts (earned desc) where kind = 'user';
`;
