/**
 * Blobs shared peer to peer (#18). What a node moved, as it says in its heartbeats (for its own
 * figures and the network's, never for pay): bytes it took from peers, from the coordinator, and
 * gave to peers. `peer_faults`: how many accounts said it served them bytes that did not hash to
 * what they asked for; at `peerFaultsMax` (server/nodes/hub.ts) it is named to no one again.
 */
export const up = /* sql */ `
alter table nodes add column bytes_from_peers bigint not null default 0;
alter table nodes add column bytes_from_coordinator bigint not null default 0;
alter table nodes add column bytes_to_peers bigint not null default 0;
alter table nodes add column peer_faults int not null default 0;
`;
