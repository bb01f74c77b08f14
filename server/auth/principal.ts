import { getConnInfo } from '@hono/node-server/conninfo';
import { clientAddress } from '../nodes/prefix.ts';
import { getCookie } from 'hono/cookie';
import { createMiddleware } from 'hono/factory';
import type { AppEnv, Deps, Principal } from '../context.ts';
import { forbidden, unauthorized } from '../errors.ts';
import { sha256Hex } from './secrets.ts';

export const sessionCookie = 'sn_session';
const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);
/** An API key's `last_used_at` is written at most this often. */
const lastUsedGrainMs = 60_000;

/** Resolves a bearer secret: an API key (`sn_…`), a node token (`snn_…`) or a widget token (`snw_…`). */
export async function principalFromBearer(deps: Deps, secret: string): Promise<Principal | null> {
  const hash = sha256Hex(secret);
  if (secret.startsWith('sn_')) {
    const key = await deps.db.selectFrom('api_keys').select(['id', 'account_id', 'last_used_at']).where('key_hash', '=', hash).where('revoked_at', 'is', null).executeTakeFirst();
    if (!key) return null;
    // "Last used" to the minute: a node's key authenticates every upload, and a write per
    // request was one of the ~60 queries a verified unit cost (bench/coordinator.ts).
    if (!key.last_used_at || Date.now() - key.last_used_at.getTime() > lastUsedGrainMs) {
      await deps.db.updateTable('api_keys').set({ last_used_at: new Date() }).where('id', '=', key.id).execute();
    }
    return { kind: 'account', accountId: key.account_id, via: 'key' };
  }
  if (secret.startsWith('snw_')) {
    const session = await deps.db
      .selectFrom('widget_sessions')
      .innerJoin('sites', 'sites.id', 'widget_sessions.site_id')
      .select(['sites.id', 'sites.account_id'])
      .where('widget_sessions.token_hash', '=', hash)
      .where('widget_sessions.expires_at', '>', new Date())
      .where('sites.deleted_at', 'is', null)
      .executeTakeFirst();
    return session ? { kind: 'widget', siteId: session.id, accountId: session.account_id } : null;
  }
  if (secret.startsWith('snn_')) {
    const node = await deps.db.selectFrom('nodes').select(['id', 'account_id']).where('token_hash', '=', hash).executeTakeFirst();
    return node ? { kind: 'node', nodeId: node.id, accountId: node.account_id } : null;
  }
  return null;
}

export async function principalFromSession(deps: Deps, sessionId: string): Promise<Principal | null> {
  const row = await deps.db
    .selectFrom('sessions')
    .select('account_id')
    .where('id_hash', '=', sha256Hex(sessionId))
    .where('expires_at', '>', new Date())
    .executeTakeFirst();
  return row ? { kind: 'account', accountId: row.account_id, via: 'cookie' } : null;
}

/** True when a browser's Origin is ours or one of SUPERNET_ORIGINS. */
export function originAllowed(deps: Deps, requestUrl: string, origin: string | undefined): boolean {
  if (!origin) return false;
  return origin === new URL(requestUrl).origin || deps.config.allowedOrigins.includes(origin);
}

/**
 * Sets `principal` and `ip` on every request. A wrong API key is a 401 (a program should
 * know at once), a stale cookie is simply signed out. Writes authenticated by cookie must
 * come from our own origin: the Origin check is the CSRF defence besides SameSite=Lax.
 */
export const principalMiddleware = (deps: Deps) =>
  createMiddleware<AppEnv>(async (c, next) => {
    let ip = 'unknown';
    try {
      ip = clientAddress(getConnInfo(c).remote.address, c.req.header('x-forwarded-for'), deps.config.trustedProxies) ?? 'unknown';
    } catch {
      // app.request() in tests has no socket
    }
    c.set('ip', ip);
    let principal: Principal | null = null;
    const auth = c.req.header('authorization');
    if (auth) {
      const secret = /^Bearer\s+(\S+)$/i.exec(auth)?.[1];
      principal = secret ? await principalFromBearer(deps, secret) : null;
      if (!principal) throw unauthorized('The API key is not valid (revoked or mistyped): make a new one in the portal or with POST /api/keys.');
    } else {
      const session = getCookie(c, sessionCookie);
      if (session) principal = await principalFromSession(deps, session);
      if (principal && !safeMethods.has(c.req.method) && !originAllowed(deps, c.req.url, c.req.header('origin'))) {
        throw forbidden('This request came from another site (its Origin header is not ours), so it was refused.');
      }
    }
    c.set('principal', principal);
    await next();
  });
