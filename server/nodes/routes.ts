import { Hono } from 'hono';
import { sql } from 'kysely';
import { z } from 'zod';
import type { AppEnv, Deps } from '../context.ts';
import { badRequest, notFound, unauthorized } from '../errors.ts';
import { toCredits } from '../ledger/credit.ts';
import { earning, userAccount } from '../ledger/ledger.ts';
import { leaderboardQuery } from '../api/schemas.ts';


/** How a contributor shows in public: the first letters of their email's name and a tag of their id. */
export const publicName = (email: string, id: string) => `${email.split('@')[0]!.slice(0, 3)}… #${id.slice(0, 4)}`;


/**
 * A node's own figures (for the page or agent running it) and the public top contributors.
 * Units count from the attempts of record, credits from the ledger, so a reloaded page shows
 * the same figures as before the reload.
 */
export function nodeRoutes(deps: Deps) {
  const app = new Hono<AppEnv>();
  const { db } = deps;

  // The node itself (its token) or the account it works for (cookie or key) may read it.
  app.get('/nodes/:id', async (c) => {
    const id = c.req.param('id');
    const principal = c.get('principal');
    if (!principal) throw unauthorized();
    const node = z.uuid().safeParse(id).success
      ? await db.selectFrom('nodes').select(['id', 'name', 'account_id', 'gflops', 'connected_at', 'last_seen_at', 'disconnected_at', 'bytes_from_peers', 'bytes_from_coordinator', 'bytes_to_peers']).where('id', '=', id).executeTakeFirst()
      : undefined;
    const mine = node && (principal.kind === 'node' ? principal.nodeId === node.id : principal.accountId === node.account_id);
    if (!node || !mine) throw notFound('No node of yours has that id.');
    const attempts = await db.selectFrom('attempts').select(['state', sql<number>`count(*)::int`.as('n')]).where('node_id', '=', id).groupBy('state').execute();
    const count = (state: string) => attempts.find((a) => a.state === state)?.n ?? 0;
    const verified = await db
      .selectFrom('attempts')
      .innerJoin('units', 'units.id', 'attempts.unit_id')
      .select(sql<number>`coalesce(sum(units.flops), 0)`.as('flops'))
      .where('attempts.node_id', '=', id)
      .where('attempts.state', '=', 'valid')
      .executeTakeFirstOrThrow();
    // `since` (ms since the epoch): what this node earned from then on — a page's session.
    const since = Number(c.req.query('since') ?? NaN);
    const from = Number.isFinite(since) ? new Date(since) : new Date(0);
    // Only what reached the node's account, as its wallet counts it (server/ledger/views.ts): a
    // node's session is then part of its account's "earned in all", never more.
    const to = userAccount(node.account_id ?? 'anonymous');
    const credits = await sql<{ earned: string | number; pending: string | number; since: string | number }>`
      select
        coalesce((select sum(t.amount) from transfers t join attempts a on a.id = t.attempt_id
                  where a.node_id = ${id} and ${earning} and t.credit_account_id = ${to}), 0) as earned,
        coalesce((select sum(t.amount) from transfers t join attempts a on a.id = t.attempt_id
                  where a.node_id = ${id} and ${earning} and t.credit_account_id = ${to} and t.created_at >= ${from}), 0) as since,
        coalesce((select sum(t.amount) from transfers_pending p join transfers t on t.id = p.id join attempts a on a.id = p.attempt_id
                  where a.node_id = ${id} and t.code = 'pay'), 0) as pending`.execute(db);
    const money = credits.rows[0]!;
    return c.json({
      id: node.id,
      name: node.name,
      online: node.disconnected_at === null,
      gflops: node.gflops,
      connectedAt: node.connected_at,
      lastSeenAt: node.last_seen_at,
      units: { valid: count('valid'), invalid: count('invalid'), expired: count('expired'), failed: count('failed'), released: count('cancelled'), inFlight: count('leased') + count('returned') },
      tflopsVerified: Number(verified.flops) / 1e12,
      credits: { earned: toCredits(Number(money.earned)), pending: toCredits(Number(money.pending)), since: toCredits(Number(money.since)) },
      blobs: { fromPeers: node.bytes_from_peers, fromCoordinator: node.bytes_from_coordinator, toPeers: node.bytes_to_peers },
    });
  });

  app.get('/leaderboard', async (c) => {
    const query = leaderboardQuery.safeParse(c.req.query());
    if (!query.success) throw badRequest('limit is 1 to 100; period is all or day.');
    const { limit, period } = query.data;
    // All time: the accounts' running sums (ledger_accounts.earned), read in the order of their
    // index; a day: that day's earning transfers.
    const rows =
      period === 'day'
        ? await sql<{ id: string; email: string; valid: number; earned: string | number }>`
            select acc.id, acc.email, acc.valid, sum(t.amount) as earned
            from transfers t
            join ledger_accounts la on la.id = t.credit_account_id and la.kind = 'user'
            join accounts acc on acc.id = la.account_id
            where ${earning} and t.created_at > now() - interval '1 day'
            group by acc.id, acc.email, acc.valid
            order by earned desc, acc.id
            limit ${limit}`.execute(db)
        : await sql<{ id: string; email: string; valid: number; earned: string | number }>`
            select acc.id, acc.email, acc.valid, la.earned
            from ledger_accounts la join accounts acc on acc.id = la.account_id
            where la.kind = 'user' and la.earned > 0
            order by la.earned desc, acc.id
            limit ${limit}`.execute(db);
    const me = c.get('principal')?.accountId ?? null;
    return c.json({
      period,
      contributors: rows.rows.map((r, i) => ({ rank: i + 1, name: publicName(r.email, r.id), unitsVerified: r.valid, earned: toCredits(Number(r.earned)), you: r.id === me })),
    });
  });

  return app;
}
