import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The stores a test runs on: always embedded PGlite; PostgreSQL too when TEST_DATABASE_URL
 * names a server (CI starts one). Each PostgreSQL test gets a database of its own.
 */
export type StoreKind = 'pglite' | 'postgres';

export const storeKinds: StoreKind[] = process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

export async function freshPostgresUrl(): Promise<string> {
  const admin = process.env.TEST_DATABASE_URL;
  if (!admin) throw new Error('TEST_DATABASE_URL is not set');
  return freshDatabase(admin);
}

/** A new, empty database on the server behind `admin` (a URL that may create databases). */
export async function freshDatabase(admin: string, prefix = 'sn_test'): Promise<string> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`create database ${name}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return url.toString();
}
