/**
 * Verification against patient, organised adversaries (server/verify/, server/nodes/).
 * units.partner_node / partner_due: a unit that has a live replica and wants another is dealt
 * to one connected node drawn at random (server/verify/deal.ts); only that node may take it,
 * until partner_due, when it is drawn again. Nodes cannot choose their pairs.
 * nodes.draw: a random key, re-rolled at every hello, for a uniform pick among connected nodes
 * through an index. nodes.rate_gflops / last_result_at: the node's throughput as the coordinator
 * measured it (results over time), which bounds how many leases it may hold. nodes.paused_at:
 * it asked for nothing more (a paused tab), so it is not dealt partners. nodes.releases /
 * releases_since: leases it gave back this hour, limited.
 * attempts.suspect: a result of a node caught lying, judged again without a vote of its own.
 * attempts.released: the node gave the lease back unstarted (it is not leased that unit again).
 * attempts.streak_lost: the streak an invalid verdict took, given back if it is withdrawn.
 * uploads: who stored which bytes when; a result counts only as bytes its holder uploaded
 * after the lease was granted (no copying another node's hash).
 * Known-answer attempts no longer take a unit's one-replica-per-holder place.
 */
export const up = /* sql */ `
alter table units add column partner_node uuid references nodes(id);
alter table units add column partner_due timestamptz;
create index units_partner_node on units (partner_node) where state = 'pending' and partner_node is not null;
create index units_partner_due on units (partner_due) where state = 'pending' and partner_due is not null;

alter table nodes add column draw double precision not null default random();
create index nodes_draw_connected on nodes (draw) where disconnected_at is null;
alter table nodes add column rate_gflops double precision not null default 0 check (rate_gflops >= 0);
alter table nodes add column last_result_at timestamptz;
alter table nodes add column paused_at timestamptz;
alter table nodes add column releases int not null default 0 check (releases >= 0);
alter table nodes add column releases_since timestamptz not null default now();

alter table attempts add column suspect boolean not null default false;
alter table attempts add column released boolean not null default false;
alter table attempts add column streak_lost int not null default 0;
create index attempts_node_leased on attempts (node_id) where state = 'leased';

drop index attempts_one_per_holder;
create unique index attempts_one_per_holder on attempts (unit_id, holder)
  where state in ('leased', 'returned', 'valid', 'invalid') and not known;

create table uploads (
  sha256 text not null references blobs,
  uploader text not null,
  at timestamptz not null default now(),
  primary key (sha256, uploader)
);
`;
