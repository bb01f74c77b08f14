import { Hono } from 'hono';
import { sql } from 'kysely';
import { z } from 'zod';
import { siteBody, widgetSessionBody } from '../api/schemas.ts';
import { randomSecret, sha256Hex } from '../auth/secrets.ts';
import type { AppEnv, Deps } from '../context.ts';
import { requireAccount } from '../context.ts';
import { forbidden, notFound } from '../errors.ts';
import { toCredits } from '../ledger/credit.ts';
import { parseBody } from '../validate.ts';

/** A widget token lasts a day; the iframe asks for a new one when it has none or it ran out. */
const widgetSessionMs = 24 * 3600_000;

export const embedTag = (coordinator: string, key: string) => `<script src="${coordinator}/widget.js" data-site="${key}" async></script>`;

/**
 * Sites that embed the widget (their owners register them) and the widget's tokens.
 * Site: key public, origins exact. The widget's iframe gets a `snw_` token of its own for a
 * site and an origin in that site's list; with it a node earns for the site's owner.
 */
export function siteRoutes(deps: Deps) {
  const app = new Hono<AppEnv>();
  const { db } = deps;

  async function views(accountId: string, requestUrl: string) {
    const sites = await db.selectFrom('sites').selectAll().where('account_id', '=', accountId).where('deleted_at', 'is', null).orderBy('created_at', 'desc').execute();
    if (!sites.length) return [];
    const earned = await sql<{ site_id: string; earned: string | number; nodes: number }>`
      select n.site_id, coalesce(sum(t.amount), 0) as earned, count(distinct n.id)::int as nodes
      from nodes n
      left join attempts a on a.node_id = n.id
      left join transfers t on t.attempt_id = a.id and ((t.kind = 'post' and t.code = 'verified') or t.code = 'vetting')
      where n.site_id in (${sql.join(sites.map((s) => s.id))})
      group by n.site_id`.execute(db);
    const by = new Map(earned.rows.map((r) => [r.site_id, r]));
    const origin = new URL(requestUrl).origin;
    return sites.map((s) => ({
      id: s.id,
      name: s.name,
      key: s.key,
      origins: s.origins,
      throttle: s.throttle,
      createdAt: s.created_at,
      embed: embedTag(origin, s.key),
      earned: toCredits(Number(by.get(s.id)?.earned ?? 0)),
      nodes: by.get(s.id)?.nodes ?? 0,
    }));
  }

  app.post('/sites', async (c) => {
    const accountId = requireAccount(c);
    const body = await parseBody(c, siteBody);
    const row = await db
      .insertInto('sites')
      .values({ account_id: accountId, name: body.name, key: `site_${randomSecret(12)}`, origins: JSON.stringify([...new Set(body.origins)]), throttle: body.throttle })
      .returning('id')
      .executeTakeFirstOrThrow();
    return c.json((await views(accountId, c.req.url)).find((s) => s.id === row.id)!, 201);
  });

  app.get('/sites', async (c) => c.json({ sites: await views(requireAccount(c), c.req.url) }));

  app.delete('/sites/:id', async (c) => {
    const accountId = requireAccount(c);
    const id = z.uuid().safeParse(c.req.param('id'));
    const gone = id.success
      ? await db.updateTable('sites').set({ deleted_at: new Date() }).where('id', '=', id.data).where('account_id', '=', accountId).where('deleted_at', 'is', null).returning('id').executeTakeFirst()
      : undefined;
    if (!gone) throw notFound('No such site of yours.');
    return c.json({ ok: true as const });
  });

  // Public: what the widget's iframe needs to know about its site.
  app.get('/widget/sites/:key', async (c) => {
    const site = await findSite(deps, c.req.param('key'));
    return c.json({ name: site.name, origins: site.origins, throttle: site.throttle });
  });

  // The iframe's own token, for an origin the site allows (frame-ancestors enforces the framing).
  app.post('/widget/sessions', async (c) => {
    const body = await parseBody(c, widgetSessionBody);
    const site = await findSite(deps, body.site);
    if (!site.origins.includes(body.origin)) throw forbidden(`This site's widget may not run on ${body.origin}: its owner allows ${site.origins.join(', ')}.`);
    const token = `snw_${randomSecret(24)}`;
    const expiresAt = new Date(Date.now() + widgetSessionMs);
    await db.insertInto('widget_sessions').values({ site_id: site.id, token_hash: sha256Hex(token), origin: body.origin, expires_at: expiresAt }).execute();
    return c.json({ token, expiresAt }, 201);
  });

  return app;
}

/** A live site by its public key, or 404. */
export async function findSite(deps: Deps, key: string) {
  const site = /^site_[A-Za-z0-9_-]{1,60}$/.test(key) ? await deps.db.selectFrom('sites').selectAll().where('key', '=', key).where('deleted_at', 'is', null).executeTakeFirst() : undefined;
  if (!site) throw notFound('No such site: check the data-site key in the embedding tag.');
  return site;
}
