import { Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import type { AppEnv, Ctx, Deps } from '../context.ts';
import { requireAccount } from '../context.ts';
import { AppError, conflict, forbidden, notFound } from '../errors.ts';
import { inTransaction } from '../db/index.ts';
import { walletOf } from '../ledger/views.ts';
import { grantStarter } from '../ledger/payments.ts';
import { keyBody, loginBody, signupBody } from '../api/schemas.ts';
import { parseBody } from '../validate.ts';
import { accountTrust } from '../verify/reputation.ts';
import { checkLoginAllowed, clearLoginFailures, recordLoginFailure } from './limits.ts';
import { originAllowed, sessionCookie } from './principal.ts';
import { decoyHash, hashPassword, randomSecret, sha256Hex, verifyPassword } from './secrets.ts';

const sessionTtlMs = 30 * 24 * 3600_000;


async function startSession(c: Ctx, deps: Deps, accountId: string) {
  const id = randomSecret(32); // 256 bits
  await deps.db
    .insertInto('sessions')
    .values({ id_hash: sha256Hex(id), account_id: accountId, expires_at: new Date(Date.now() + sessionTtlMs) })
    .execute();
  setCookie(c, sessionCookie, id, {
    httpOnly: true,
    sameSite: 'Lax',
    path: '/',
    secure: new URL(c.req.url).protocol === 'https:',
    maxAge: sessionTtlMs / 1000,
  });
}

/** A browser form on another site must not sign people in or up (login CSRF). */
function checkFormOrigin(c: Ctx, deps: Deps) {
  const origin = c.req.header('origin');
  if (origin && !originAllowed(deps, c.req.url, origin)) throw forbidden('Sign-in from another site is refused.');
}

export function authRoutes(deps: Deps) {
  const app = new Hono<AppEnv>();
  const { db } = deps;

  app.post('/auth/signup', async (c) => {
    checkFormOrigin(c, deps);
    const { email, password } = await parseBody(c, signupBody);
    const password_hash = await hashPassword(password);
    const account = await inTransaction(db, async (trx) => {
      const account = await trx
        .insertInto('accounts')
        .values({ email, password_hash })
        .onConflict((oc) => oc.column('email').doNothing())
        .returning(['id', 'email'])
        .executeTakeFirst();
      if (account) await grantStarter(trx, account.id, deps.config.starterGrant);
      return account;
    });
    if (!account) throw conflict('An account with this email exists: sign in instead.');
    await startSession(c, deps, account.id);
    return c.json({ account }, 201);
  });

  app.post('/auth/login', async (c) => {
    checkFormOrigin(c, deps);
    const { email, password } = await parseBody(c, loginBody);
    await checkLoginAllowed(db, email, c.get('ip'));
    const account = await db.selectFrom('accounts').select(['id', 'email', 'password_hash']).where('email', '=', email).executeTakeFirst();
    const ok = await verifyPassword(password, account?.password_hash ?? decoyHash);
    if (!account || !ok) {
      await recordLoginFailure(db, email, c.get('ip'));
      throw new AppError(401, 'invalid_credentials', 'Wrong email or password.');
    }
    await clearLoginFailures(db, email);
    await startSession(c, deps, account.id);
    return c.json({ account: { id: account.id, email: account.email } });
  });

  app.post('/auth/logout', async (c) => {
    const session = getCookie(c, sessionCookie);
    if (session) await db.deleteFrom('sessions').where('id_hash', '=', sha256Hex(session)).execute();
    deleteCookie(c, sessionCookie, { path: '/' });
    return c.json({ ok: true });
  });

  app.get('/me', async (c) => {
    const id = requireAccount(c);
    const account = await db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const { valid, invalid, expired } = account;
    const wallet = await walletOf(db, id);
    return c.json({
      id: account.id,
      email: account.email,
      balance: wallet.available,
      wallet,
      createdAt: account.created_at,
      reputation: { valid, invalid, expired, trust: accountTrust(valid, invalid), quarantined: account.quarantined_at !== null },
    });
  });

  app.post('/keys', async (c) => {
    const accountId = requireAccount(c);
    const { name } = await parseBody(c, keyBody);
    const secret = `sn_${randomSecret(16)}`; // 128 random bits
    const key = await db
      .insertInto('api_keys')
      .values({ account_id: accountId, name, key_hash: sha256Hex(secret), prefix: secret.slice(0, 7) })
      .returning(['id', 'name', 'prefix', 'created_at as createdAt'])
      .executeTakeFirstOrThrow();
    return c.json({ ...key, secret, note: 'Copy the secret now: it is shown once.' }, 201);
  });

  app.get('/keys', async (c) => {
    const accountId = requireAccount(c);
    const keys = await db
      .selectFrom('api_keys')
      .select(['id', 'name', 'prefix', 'created_at as createdAt', 'last_used_at as lastUsedAt'])
      .where('account_id', '=', accountId)
      .where('revoked_at', 'is', null)
      .orderBy('created_at', 'desc')
      .execute();
    return c.json({ keys });
  });

  app.delete('/keys/:id', async (c) => {
    const accountId = requireAccount(c);
    const id = z.uuid().safeParse(c.req.param('id'));
    const revoked = id.success
      ? await db
          .updateTable('api_keys')
          .set({ revoked_at: new Date() })
          .where('id', '=', id.data)
          .where('account_id', '=', accountId)
          .where('revoked_at', 'is', null)
          .returning('id')
          .executeTakeFirst()
      : undefined;
    if (!revoked) throw notFound('No such API key on your account.');
    return c.json({ ok: true });
  });

  return app;
}
