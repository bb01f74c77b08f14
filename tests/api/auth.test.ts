import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loginFailuresPerIpMax, recordLoginFailure } from '../../server/auth/limits.ts';
import { sha256Hex } from '../../server/auth/secrets.ts';
import type { Coordinator } from '../../server/coordinator.ts';
import { TestClient } from '../helpers/client.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { storeKinds } from '../helpers/stores.ts';

/** POST /api/auth/login from a chosen loopback address (127.0.0.0/8 all reaches us). */
function loginFrom(url: string, localAddress: string, email: string, password: string): Promise<{ status: number; body: any }> {
  const { port } = new URL(url);
  const body = JSON.stringify({ email, password });
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/api/auth/login', method: 'POST', localAddress, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe.each(storeKinds)('accounts, sessions and API keys (%s)', (store) => {
  let coordinator: Coordinator;
  let url: string;
  beforeAll(async () => {
    coordinator = await testCoordinator(store);
    url = coordinator.url;
  });
  afterAll(() => coordinator?.close());

  it('signs up with a session cookie that is HttpOnly and SameSite=Lax, and refuses a second account on the email', async () => {
    const res = await fetch(`${url}/api/auth/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'Ann@Example.com', password: 'a long enough password' }) });
    expect(res.status).toBe(201);
    expect((await res.json()).account.email).toBe('ann@example.com');
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^sn_session=[\w-]{43};/); // 32 random bytes, base64url
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    const again = await fetch(`${url}/api/auth/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'ann@example.com', password: 'another long password' }) });
    expect(again.status).toBe(409);
    const weak = await fetch(`${url}/api/auth/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'weak@example.com', password: 'short' }) });
    expect(weak.status).toBe(400);
    expect((await weak.json()).error.message).toMatch(/at least 10 characters/);
  });

  it('stores passwords as scrypt N=2^17 hashes, never in clear', async () => {
    await TestClient.signup(url, 'hash@example.com', 'my secret password');
    const row = await coordinator.deps.db.selectFrom('accounts').select('password_hash').where('email', '=', 'hash@example.com').executeTakeFirstOrThrow();
    expect(row.password_hash).toMatch(/^scrypt\$17\$8\$1\$/);
    expect(row.password_hash).not.toContain('my secret password');
  });

  it('gives the same answer for an unknown email and a wrong password', async () => {
    await TestClient.signup(url, 'known@example.com');
    const wrong = await loginFrom(url, '127.0.0.1', 'known@example.com', 'not the password');
    const unknown = await loginFrom(url, '127.0.0.1', 'nobody@example.com', 'not the password');
    expect(wrong).toEqual(unknown);
    expect(wrong).toEqual({ status: 401, body: { error: { code: 'invalid_credentials', message: 'Wrong email or password.' } } });
  });

  it('signs in, out, and keeps a cookie-authenticated write from another origin out', async () => {
    const client = await TestClient.signup(url, 'cookie@example.com');
    expect((await client.json('GET', '/api/me')).email).toBe('cookie@example.com');
    const forged = await fetch(`${url}/api/keys`, { method: 'POST', headers: { cookie: client.cookie, origin: 'https://evil.example', 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x' }) });
    expect(forged.status).toBe(403);
    const noOrigin = await fetch(`${url}/api/keys`, { method: 'POST', headers: { cookie: client.cookie, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x' }) });
    expect(noOrigin.status).toBe(403);
    expect((await client.json('GET', '/api/keys')).keys).toEqual([]);
    await client.json('POST', '/api/auth/logout');
    expect((await client.call('GET', '/api/me')).status).toBe(401);
  });

  it('shows an API key once, stores only its SHA-256, and refuses it once revoked', async () => {
    const client = await TestClient.signup(url, 'keys@example.com');
    const created = await client.json('POST', '/api/keys', { name: 'laptop' }, 201);
    expect(created.secret).toMatch(/^sn_[\w-]{22}$/); // 128 random bits
    const listed = await client.json('GET', '/api/keys');
    expect(JSON.stringify(listed)).not.toContain(created.secret);
    const row = await coordinator.deps.db.selectFrom('api_keys').selectAll().where('id', '=', created.id).executeTakeFirstOrThrow();
    expect(row.key_hash).toBe(sha256Hex(created.secret));
    const viaKey = new TestClient(url);
    viaKey.key = created.secret;
    expect((await viaKey.json('GET', '/api/me')).email).toBe('keys@example.com');
    await client.json('DELETE', `/api/keys/${created.id}`);
    const refused = await viaKey.call('GET', '/api/me');
    expect(refused.status).toBe(401);
    expect((await refused.json()).error.message).toMatch(/not valid/);
  });


  it('shows when a key was last used, to the minute: a key used for every upload is not a write per request', async () => {
    const client = await TestClient.signup(url, 'last-used@example.com');
    const created = await client.json('POST', '/api/keys', { name: 'agent' }, 201);
    const viaKey = new TestClient(url);
    viaKey.key = created.secret;
    const lastUsed = async () => (await client.json('GET', '/api/keys')).keys.find((k: { id: string }) => k.id === created.id).lastUsedAt;
    expect(await lastUsed()).toBeNull();
    await viaKey.json('GET', '/api/me');
    const first = await lastUsed();
    expect(Date.parse(first)).toBeGreaterThan(Date.now() - 60_000);
    for (let i = 0; i < 3; i++) await viaKey.json('GET', '/api/me');
    expect(await lastUsed()).toBe(first);
  });
  it('locks an account after ten wrong passwords even when they come from ten different addresses', async () => {
    await TestClient.signup(url, 'target@example.com', 'the right password');
    for (let i = 0; i < 10; i++) {
      expect((await loginFrom(url, `127.0.0.${10 + i}`, 'target@example.com', `guess ${i}`)).status).toBe(401);
    }
    const locked = await loginFrom(url, '127.0.0.99', 'target@example.com', 'the right password');
    expect(locked.status).toBe(429);
    expect(locked.body.error.message).toMatch(/locked after 10 failed sign-ins: try again in 1[45] minutes/);
    // Another account is untouched.
    await TestClient.signup(url, 'bystander@example.com', 'the right password');
    expect((await loginFrom(url, '127.0.0.99', 'bystander@example.com', 'the right password')).status).toBe(200);
  });

  it('refuses an address after 100 failed sign-ins across many emails (a sprayer), and only that address', async () => {
    await TestClient.signup(url, 'sprayed@example.com', 'the right password');
    // 99 failures recorded as the route records them (no scrypt: the limit is what is tested),
    // then the 100th through HTTP from that address, one guess per email so no account locks.
    // Counts by address live in the process's memory, shared by both stores' runs: one address each.
    const sprayer = store === 'pglite' ? '127.0.0.150' : '127.0.0.160';
    for (let i = 0; i < loginFailuresPerIpMax - 1; i++) await recordLoginFailure(coordinator.deps.db, `victim${i}@example.com`, sprayer);
    expect((await loginFrom(url, sprayer, 'last-victim@example.com', 'a guess')).status).toBe(401);
    const refused = await loginFrom(url, sprayer, 'sprayed@example.com', 'the right password');
    expect(refused.status).toBe(429);
    expect(refused.body.error.message).toMatch(/Too many failed sign-ins from your address/);
    // The account itself is not locked: from another address the right password works.
    expect((await loginFrom(url, '127.0.0.200', 'sprayed@example.com', 'the right password')).status).toBe(200);
  });
});
