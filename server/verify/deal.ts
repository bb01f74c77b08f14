import { sql } from 'kysely';
import type { Trx } from '../db/index.ts';
import { quorum } from '../jobs/states.ts';
import { releasesPerHourMax } from '../nodes/leases.ts';
import { trustedStreakMin } from './reputation.ts';

/**
 * Partners are dealt, not grabbed.
 *
 * A unit's first replica goes to whoever claims it from the queue. Every further replica — the
 * second of a replicated unit, the tie-breaker after a disagreement, a re-check — is dealt: the
 * coordinator draws one connected, eligible node at random and only that node may take it, until
 * `partner_due`; then (it never asked, or went away) it is drawn again. So which node runs a
 * unit's other replica is not something a node can steer by releasing, failing, reconnecting or
 * asking at a chosen moment: the draw does not look at who is asking, and whatever a ring does
 * to its own leases, the unit's partner stays the one drawn.
 *
 * Commit, then deal: the next replica is dealt only once every replica in flight has returned
 * its result. A ring member holding a unit must commit its answer before anyone — it included —
 * knows who will check it, so it cannot lie only where its partner will be a friend.
 *
 * The bound: with r ring nodes among the n eligible connected nodes, a ring member's committed
 * lie meets a ring partner with probability (r − 1)/(n − 1) and is otherwise outvoted: the honest
 * partner disagrees, a third node is dealt, and the liar is caught — and a caught node's results
 * in open jobs are all judged again (server/verify/adaptive.ts), which unravels the pairs that
 * did succeed. A ring that lies on k units goes uncaught with probability ((r − 1)/(n − 1))^k.
 * (Each node counts once; the one-replica-per-account and per-network rules exclude more.)
 *
 * Eligible: connected (a frame within three lease times; nodes heartbeat every third of one), not paused, not quarantined, not over
 * its hourly releases, its
 * `kinds` include the job's, its ask within the bid, and neither its holder (account) nor its
 * network already on the unit. Nodes that released this unit are drawn only when nobody else is
 * eligible (the rule bends rather than leave a unit with no one to run it).
 *
 * A tie-break (a unit whose results disagreed, asking for more than `quorum`) is drawn among the
 * eligible trusted nodes (a streak of `trustedStreakMin` valid results) first, and among all of
 * them where none is connected: a disagreement means a liar is on the unit, and an unproven
 * partner is as likely as the first to be another (one unit of a chaos run went to five
 * different liars in a row and failed its job). Still a draw, so a ring cannot steer it.
 *
 * The draw is uniform over the first `drawSample` eligible nodes at or after a random point of
 * `nodes.draw` (an index over connected nodes; the key is re-rolled at every hello), so its cost
 * does not grow with the number of nodes beyond what the filters skip.
 */
export const drawSample = 32;
/** A unit no node could be dealt to is drawn again after this. */
export const redrawMs = 1000;

interface DealUnit {
  id: string;
  state: string;
  replicas: number;
  partner_node: string | null;
  partner_due: Date | null;
  kind: string;
  bid: number;
  job_state: string;
  returned: number;
  leased: number;
}

/**
 * Deals the next replica of each unit whose replicas so far have all returned and that wants
 * more; clears the deal of units that need none (decided, ended, a replica in flight, or no
 * replica left at all: then the queue serves it as a fresh unit); keeps a unit that holds all
 * it asks for and has no verdict due, for the sweeper to decide (decideStalled).
 * Locks the units (in id order). Returns how many units were dealt to a node.
 */
export async function dealPartners(trx: Trx, unitIds: string[], leaseTtlMs: number): Promise<number> {
  if (!unitIds.length) return 0;
  const ids = [...new Set(unitIds)].sort();
  const units = await sql<DealUnit>`
    select u.id, u.state, u.replicas, u.partner_node, u.partner_due, j.kind, j.bid, j.state as job_state, r.returned, r.leased
    from units u join jobs j on j.id = u.job_id
    -- One probe of the unit's attempts: a count of its leases alone was read through the index of
    -- every lease in flight (attempts_leased), 180 rows for each unit, 2 ms a claim of 22 units.
    cross join lateral (select count(*) filter (where a.state = 'returned')::int as returned,
        count(*) filter (where a.state = 'leased' and a.deadline > now())::int as leased
      from attempts a where a.unit_id = u.id and not a.known and not a.suspect and a.state in ('returned', 'leased')) r
    where u.id in (${sql.join(ids)})
    order by u.id
    for update of u`.execute(trx);
  let dealt = 0;
  for (const u of units.rows) {
    const open = u.state === 'pending' && (u.job_state === 'queued' || u.job_state === 'running');
    const wants = open && u.returned > 0 && u.leased === 0 && u.returned < u.replicas;
    // Every result it asks for in hand and no verdict (reopened at its cap): kept due for the
    // sweeper, which decides it on them (decideStalled, server/nodes/results.ts).
    const stalled = open && u.returned > 0 && u.leased === 0 && u.returned >= u.replicas;
    if (stalled) {
      if (u.partner_node || !u.partner_due) await trx.updateTable('units').set({ partner_node: null, partner_due: new Date() }).where('id', '=', u.id).execute();
      continue;
    }
    if (!wants) {
      if (u.partner_node || u.partner_due) await trx.updateTable('units').set({ partner_node: null, partner_due: null }).where('id', '=', u.id).execute();
      continue;
    }
    if (u.partner_node && u.partner_due && u.partner_due.getTime() > Date.now()) continue;
    const tieBreak = u.replicas > quorum;
    const partner = (tieBreak ? await draw(trx, u, leaseTtlMs, true, true) : null) ?? (await draw(trx, u, leaseTtlMs, true)) ?? (await draw(trx, u, leaseTtlMs, false));
    await trx
      .updateTable('units')
      .set({ partner_node: partner, partner_due: new Date(Date.now() + (partner ? leaseTtlMs : redrawMs)) })
      .where('id', '=', u.id)
      .execute();
    if (partner) dealt++;
  }
  return dealt;
}

/** One eligible connected node at random, or null. `barReleased`: leave out nodes that released the unit; `trustedOnly`: nodes with a trusted streak. */
async function draw(trx: Trx, u: DealUnit, leaseTtlMs: number, barReleased: boolean, trustedOnly = false): Promise<string | null> {
  const from = Math.random();
  const candidates = (above: boolean) => sql<{ id: string }>`
    select n.id from nodes n left join accounts acc on acc.id = n.account_id
    where n.disconnected_at is null and ${above ? sql`n.draw >= ${from}` : sql`n.draw < ${from}`}
      and n.last_seen_at > now() - ${`${3 * leaseTtlMs} milliseconds`}::interval
      and n.paused_at is null and n.quarantined_at is null and acc.quarantined_at is null
      and not (n.releases >= ${releasesPerHourMax} and n.releases_since > now() - interval '1 hour')
      and n.ask <= ${u.bid} and n.caps->'kinds' @> to_jsonb(${u.kind}::text)
      and (not ${trustedOnly} or n.streak >= ${trustedStreakMin})
      and not exists (select 1 from attempts a where a.unit_id = ${u.id} and not a.known and (
            (a.holder = coalesce(n.account_id::text, 'anon:' || n.id::text) and a.state in ('leased', 'returned', 'valid', 'invalid'))
         or (a.prefix = n.prefix and a.state in ('leased', 'returned', 'valid'))
         or (${barReleased} and a.node_id = n.id and a.released)))
    order by n.draw limit ${sql.lit(drawSample)}`.execute(trx);
  const found = (await candidates(true)).rows;
  if (found.length < drawSample) found.push(...(await candidates(false)).rows.slice(0, drawSample - found.length));
  return found.length ? found[Math.floor(Math.random() * found.length)]!.id : null;
}

/** The sweeper's part: units whose deal lapsed (or found no one) are drawn again. */
export async function redealLapsed(trx: Trx, leaseTtlMs: number, limit = 200): Promise<number> {
  const due = await trx.selectFrom('units').select('id').where('state', '=', 'pending').where('partner_due', '<', new Date()).limit(limit).execute();
  return dealPartners(trx, due.map((r) => r.id), leaseTtlMs);
}
