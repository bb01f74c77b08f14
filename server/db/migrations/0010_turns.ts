/**
 * Chores that must run once across every coordinator on one store (the sweep, the market tick,
 * ledger checkpoints): whoever holds a chore's row until `until` does it (server/db/turns.ts).
 */
export const up = /* sql */ `
create table turns (
  name text primary key,
  holder text not null,
  until timestamptz not null
);
`;
