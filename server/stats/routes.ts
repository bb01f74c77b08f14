import { Hono } from 'hono';
import { sql } from 'kysely';
import type { AppEnv, Deps } from '../context.ts';
import type { Db } from '../db/index.ts';

/** Network figures, all read from the store so every coordinator process agrees. */
/** Nodes connected and heard from within three lease times, and their calibrated GFLOP/s. */
export async function onlineNodes(db: Db, leaseTtlMs: number): Promise<{ online: number; gflops: number }> {
  const row = await db
    .selectFrom('nodes')
    .select([sql<number>`count(*)::int`.as('online'), sql<number>`coalesce(sum(gflops), 0)::float8`.as('gflops')])
    .where('disconnected_at', 'is', null)
    .where('last_seen_at', '>', new Date(Date.now() - 3 * leaseTtlMs))
    .executeTakeFirstOrThrow();
  return { online: row.online, gflops: Number(row.gflops) };
}

/**
 * The network's figures for GET /api/stats, read from the jobs' and the nodes' own counters:
 * its cost grows with the jobs and nodes there have been, never with the units or attempts (a
 * count of units by state read every unit, per request, and the network page asks every 3 s).
 * Queued: the open jobs' units not yet verified (units_total − units_verified). Verification
 * counts: the nodes' valid / invalid / expired results (reputation.ts), known-answer units
 * included.
 */
export async function networkStats(deps: Deps) {
  const nodes = await onlineNodes(deps.db, deps.config.leaseTtlMs);
  const jobs = await sql<{ open: number; queued: number; verified: number }>`
    select count(*) filter (where state in ('queued', 'running'))::int as open,
      coalesce(sum(units_total - units_verified) filter (where state in ('queued', 'running')), 0)::int as queued,
      coalesce(sum(units_verified), 0)::int as verified
    from jobs`.execute(deps.db);
  const counts = await deps.db
    .selectFrom('nodes')
    .select([
      sql<number>`coalesce(sum(valid), 0)::float8`.as('valid'),
      sql<number>`coalesce(sum(invalid), 0)::float8`.as('invalid'),
      sql<number>`coalesce(sum(expired), 0)::float8`.as('expired'),
      sql<number>`coalesce(sum(bytes_from_peers), 0)::float8`.as('fromPeers'),
      sql<number>`coalesce(sum(bytes_from_coordinator), 0)::float8`.as('fromCoordinator'),
      sql<number>`coalesce(sum(bytes_to_peers), 0)::float8`.as('toPeers'),
    ])
    .executeTakeFirstOrThrow();
  const j = jobs.rows[0]!;
  return {
    nodesOnline: nodes.online,
    gflops: nodes.gflops,
    jobsRunning: j.open,
    unitsQueued: j.queued,
    unitsVerified: j.verified,
    verification: { valid: counts.valid, invalid: counts.invalid, expired: counts.expired },
    blobs: { fromPeers: counts.fromPeers, fromCoordinator: counts.fromCoordinator, toPeers: counts.toPeers },
  };
}

export function statsRoutes(deps: Deps) {
  const app = new Hono<AppEnv>();
  app.get('/api/stats', async (c) => {
    return c.json(await networkStats(deps));
  });
  app.get('/metrics', async (c) => c.text(await deps.metrics.registry.metrics(), 200, { 'content-type': deps.metrics.registry.contentType }));
  return app;
}
