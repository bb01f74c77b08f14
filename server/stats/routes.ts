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

export async function networkStats(deps: Deps) {
  const nodes = await onlineNodes(deps.db, deps.config.leaseTtlMs);
  const units = await deps.db.selectFrom('units').select(['state', sql<number>`count(*)::int`.as('n')]).groupBy('state').execute();
  const attempts = await deps.db.selectFrom('attempts').select(['state', sql<number>`count(*)::int`.as('n')]).groupBy('state').execute();
  const jobs = await deps.db.selectFrom('jobs').select(['state', sql<number>`count(*)::int`.as('n')]).groupBy('state').execute();
  const count = (rows: { state: string; n: number }[], state: string) => rows.find((r) => r.state === state)?.n ?? 0;
  const blobs = await deps.db
    .selectFrom('nodes')
    .select([sql<number>`coalesce(sum(bytes_from_peers), 0)::float8`.as('fromPeers'), sql<number>`coalesce(sum(bytes_from_coordinator), 0)::float8`.as('fromCoordinator'), sql<number>`coalesce(sum(bytes_to_peers), 0)::float8`.as('toPeers')])
    .executeTakeFirstOrThrow();
  return {
    nodesOnline: nodes.online,
    gflops: nodes.gflops,
    jobsRunning: count(jobs, 'running') + count(jobs, 'queued'),
    unitsQueued: count(units, 'pending'),
    unitsVerified: count(units, 'verified'),
    verification: { valid: count(attempts, 'valid'), invalid: count(attempts, 'invalid'), expired: count(attempts, 'expired') },
    blobs,
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
