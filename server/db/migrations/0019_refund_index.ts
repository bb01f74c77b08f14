/**
 * A job's refunds, for its view (server/ledger/views.ts escrowsOf): found through an index of
 * refunds alone. Through transfers_debit they were a walk of every transfer out of the job's
 * escrow — two a unit — 3.4 ms a job view at 10,000 units on PGlite, and growing with the job.
 */
export const up = /* sql */ `
create index transfers_refund on transfers (debit_account_id) where code = 'refund';
`;
