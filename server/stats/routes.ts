import { Hono } from 'hono';
import { sql } from 'kysely';
import type { AppEnv, Deps } from '../context.ts';

/** Network figures, all read from the store so every coordinator process agrees. */
export async function networkStats(deps: Deps) {
  const freshSince = new Date(Date.now() - 3 * deps.config.leaseTtlMs);
  const nodes = await deps.db
    .selectFrom('nodes')
    .select([sql<number>`count(*)::int`.as('online'), sql<number>`coalesce(sum(gflops), 0)`.as('gflops')])
    .where('disconnected_at', 'is', null)
    .where('last_seen_at', '>', freshSince)
    .executeTakeFirstOrThrow();
  const units = await deps.db.selectFrom('units').select(['state', sql<number>`count(*)::int`.as('n')]).groupBy('state').execute();
  const attempts = await deps.db.selectFrom('attempts').select(['state', sql<number>`count(*)::int`.as('n')]).groupBy('state').execute();
  const jobs = await deps.db.selectFrom('jobs').select(['state', sql<number>`count(*)::int`.as('n')]).groupBy('state').execute();
  const count = (rows: { state: string; n: number }[], state: string) => rows.find((r) => r.state === state)?.n ?? 0;
  return {
    nodesOnline: nodes.online,
    gflops: Number(nodes.gflops),
    jobsRunning: count(jobs, 'running') + count(jobs, 'queued'),
    unitsQueued: count(units, 'pending'),
    unitsVerified: count(units, 'verified'),
    verification: { valid: count(attempts, 'valid'), invalid: count(attempts, 'invalid'), expired: count(attempts, 'expired') },
    byState: {
      jobs: Object.fromEntries(jobs.map((r) => [r.state, r.n])),
      units: Object.fromEntries(units.map((r) => [r.state, r.n])),
      attempts: Object.fromEntries(attempts.map((r) => [r.state, r.n])),
    },
  };
}

export function statsRoutes(deps: Deps) {
  const app = new Hono<AppEnv>();
  app.get('/api/stats', async (c) => {
    const { byState: _, ...stats } = await networkStats(deps);
    return c.json(stats);
  });
  app.get('/metrics', async (c) => {
    const s = await networkStats(deps);
    const lines = [
      '# HELP supernet_nodes_online Nodes connected and heard from recently.',
      '# TYPE supernet_nodes_online gauge',
      `supernet_nodes_online ${s.nodesOnline}`,
      '# HELP supernet_gflops Calibrated GFLOP/s of the nodes online.',
      '# TYPE supernet_gflops gauge',
      `supernet_gflops ${s.gflops}`,
    ];
    for (const [table, rows] of Object.entries(s.byState)) {
      lines.push(`# HELP supernet_${table} Rows of ${table} by state.`, `# TYPE supernet_${table} gauge`);
      for (const [state, n] of Object.entries(rows)) lines.push(`supernet_${table}{state="${state}"} ${n}`);
    }
    return c.text(lines.join('\n') + '\n', 200, { 'content-type': 'text/plain; version=0.0.4' });
  });
  return app;
}
