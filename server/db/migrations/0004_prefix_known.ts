/**
 * Address prefixes and known-answer attempts.
 * nodes.prefix / attempts.prefix: the network a node connects from (an IPv4 /24, an IPv6 /48;
 * null where unknown), so that two replicas of a unit never come from one network.
 * attempts.known: a known-answer attempt, a verified unit leased again to a new node to test
 * it; its result is judged against the known one and never changes the unit.
 */
export const up = /* sql */ `
alter table nodes add column prefix text;
alter table attempts add column prefix text;
alter table attempts add column known boolean not null default false;
`;
