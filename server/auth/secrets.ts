import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** Hex SHA-256: how session ids, API keys and node tokens are stored (never in clear). */
export const sha256Hex = (value: string | Uint8Array) => createHash('sha256').update(value).digest('hex');

/** A fresh secret of `bytes` random bytes (16 bytes = 128 bits), base64url. */
export const randomSecret = (bytes: number) => randomBytes(bytes).toString('base64url');

/**
 * Password hashing: scrypt with N=2^17, r=8, p=1 (OWASP's floor), 16-byte salt, 32-byte key.
 * It needs 128 MiB, over Node's default 32 MiB `maxmem`, hence the raised limit.
 * About 0.3 s per hash on this project's 2-core machines: slow for a guesser, fine at sign-in.
 */
const cost = { N: 2 ** 17, r: 8, p: 1, maxmem: 256 * 1024 * 1024 };

function derive(password: string, salt: Buffer, params: typeof cost): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, 32, params, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, cost);
  return `scrypt$${Math.log2(cost.N)}$${cost.r}$${cost.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, logN, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !logN || !r || !p || !salt || !key) return false;
  const params = { N: 2 ** Number(logN), r: Number(r), p: Number(p), maxmem: cost.maxmem };
  const derived = await derive(password, Buffer.from(salt, 'base64'), params);
  const expected = Buffer.from(key, 'base64');
  return derived.length === expected.length && timingSafeEqual(derived, expected);
}

/** A hash of a password nobody has, so an unknown email costs the same time as a known one. */
export const decoyHash = await hashPassword(randomSecret(16));
