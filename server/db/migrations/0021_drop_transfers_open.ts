/**
 * Pending transfers past their timeout are found through transfers_pending (its timeout index,
 * which holds only the open ones), never through transfers: transfers_open was written for every
 * pay a lease reserved and read by nothing (0 scans in a bench run on PostgreSQL). Every
 * transfer row is written into each of the table's indexes, and two are written a unit.
 */
export const up = /* sql */ `
drop index if exists transfers_open;
`;
