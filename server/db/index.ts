import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import { ConfigError } from '../errors.ts';
import * as m0001 from './migrations/0001_init.ts';
import * as m0002 from './migrations/0002_verification.ts';
import * as m0003 from './migrations/0003_adaptive.ts';
import * as m0004 from './migrations/0004_prefix_known.ts';
import * as m0005 from './migrations/0005_ledger.ts';
import * as m0006 from './migrations/0006_sites.ts';
import * as m0007 from './migrations/0007_adversaries.ts';
import * as m0008 from './migrations/0008_flat_claims.ts';
import * as m0009 from './migrations/0009_claim_cursor.ts';
import * as m0010 from './migrations/0010_turns.ts';
import * as m0011 from './migrations/0011_small_blobs.ts';
import * as m0012 from './migrations/0012_replicas_cap.ts';
import * as m0013 from './migrations/0013_result_type.ts';
import * as m0014 from './migrations/0014_check_policy.ts';
import * as m0015 from './migrations/0015_job_names.ts';
import * as m0016 from './migrations/0016_webhooks.ts';
import * as m0017 from './migrations/0017_peer_blobs.ts';
import * as m0018 from './migrations/0018_rounds.ts';
import * as m0019 from './migrations/0019_refund_index.ts';
import * as m0020 from './migrations/0020_earned.ts';
import * as m0021 from './migrations/0021_drop_transfers_open.ts';
import * as m0022 from './migrations/0022_units_flops.ts';
import * as m0023 from './migrations/0023_writing.ts';
import { collapseLists, PGlitePool } from './pglite-pool.ts';
import { PreparedNames } from './prepared.ts';
import type { Database } from './schema.ts';

export type Db = Kysely<Database>;
export type Trx = Transaction<Database>;

/** Numbered, append-only. Each runs once, in its own transaction, under an advisory lock. */
const migrations: [number, string, string][] = [
  [1, 'init', m0001.up],
  [2, 'verification', m0002.up],
  [3, 'adaptive', m0003.up],
  [4, 'prefix_known', m0004.up],
  [5, 'ledger', m0005.up],
  [6, 'sites', m0006.up],
  [7, 'adversaries', m0007.up],
  [8, 'flat_claims', m0008.up],
  [9, 'claim_cursor', m0009.up],
  [10, 'turns', m0010.up],
  [11, 'small_blobs', m0011.up],
  [12, 'replicas_cap', m0012.up],
  [13, 'result_type', m0013.up],
  [14, 'check_policy', m0014.up],
  [15, 'job_names', m0015.up],
  [16, 'webhooks', m0016.up],
  [17, 'peer_blobs', m0017.up],
  [18, 'rounds', m0018.up],
  [19, 'refund_index', m0019.up],
  [20, 'earned', m0020.up],
  [21, 'drop_transfers_open', m0021.up],
  [22, 'units_flops', m0022.up],
  [23, 'writing', m0023.up],
];

/** Statements prepared at most on one PostgreSQL connection (a pool holds up to 10). */
const preparedPerConnectionMax = 200;

/**
 * A PostgreSQL connection that runs kysely's statements as named prepared statements where
 * PreparedNames says so (the extended protocol's Parse once, then Bind and Execute): the server
 * neither parses nor plans them again. IN lists become one array parameter first, as on PGlite.
 */
class PreparingClient extends pg.Client {
  #names = new PreparedNames(preparedPerConnectionMax);

  // kysely calls query(text, values) and awaits the promise; every other form passes through.
  override query(...args: unknown[]): never {
    const [text, values] = args;
    if (args.length !== 2 || typeof text !== 'string' || !Array.isArray(values) || !values.length) return (super.query as (...a: unknown[]) => never)(...args);
    const { sql, params } = collapseLists(text, values);
    const named = this.#names.name(sql);
    if (named?.evicted) {
      const evicted = named.evicted;
      const parsed = (this as unknown as { connection: { parsedStatements: Record<string, string> } }).connection.parsedStatements;
      // Queued before the statement that follows; only where the server holds it (a Parse that
      // failed left nothing to deallocate, and a DEALLOCATE that failed would abort a transaction).
      if (parsed[evicted] !== undefined) super.query(`deallocate ${evicted}`).then(() => delete parsed[evicted], () => {});
    }
    return (super.query as (...a: unknown[]) => never)(named ? { name: named.name, text: sql, values: params } : sql, ...(named ? [] : [params]));
  }
}

const int8 = 20;
const asNumber = (value: string) => Number(value);

export interface StoreOptions {
  dataDir: string;
  databaseUrl: string | null;
  /** PGlite only: how often it looks for tables due a VACUUM or an ANALYZE (PGlitePool.maintain; default 5 s). */
  maintenanceMs?: number;
}

/** Opens PostgreSQL at `databaseUrl`, or embedded PGlite under `dataDir/pglite`, and migrates. */
export async function openStore({ dataDir, databaseUrl, maintenanceMs }: StoreOptions): Promise<Db> {
  let db: Db;
  if (databaseUrl) {
    const pool = new pg.Pool({
      Client: PreparingClient,
      connectionString: databaseUrl,
      max: 10,
      types: { getTypeParser: ((oid: number, format?: 'text') => (oid === int8 ? asNumber : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser },
    });
    pool.on('error', (err) => console.error(`postgres: ${err.message}`));
    // Each connection plans for a coordinator's work: many small statements on hot rows.
    // - jit off: a statement the planner misjudged as large (a table grown from empty since its
    //   last ANALYZE) was compiled each time, 16-18 ms of JIT for 0.2 ms of work, under the
    //   ledger's lock.
    // - random_page_cost 1.1 (as PGlite, below): the tables live in memory or on SSD; at the
    //   default of 4 (spinning disks) the planner hashed whole tables rather than probing keys.
    // The client sends these before the connection's first query (queries queue in order).
    pool.on('connect', (client) => void client.query('set jit = off; set random_page_cost = 1.1').catch(() => {}));
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    try {
      await sql`select 1`.execute(db);
    } catch (err) {
      await db.destroy();
      throw new ConfigError(`Cannot reach PostgreSQL at DATABASE_URL (${(err as Error).message}): start the server or fix the URL, or unset DATABASE_URL to use the embedded store.`);
    }
  } else {
    const dir = join(dataDir, 'pglite');
    mkdirSync(dir, { recursive: true });
    const lite = await PGlite.create(dir, { parsers: { [int8]: asNumber } });
    // PGlitePool writes parameters in as literals, quoted for this setting (inlineParams).
    const [scs] = await lite.exec('show standard_conforming_strings');
    if ((scs?.rows[0] as { standard_conforming_strings?: string } | undefined)?.standard_conforming_strings !== 'on') throw new Error('PGlite runs without standard_conforming_strings');
    // PGlite's pages are all in this process's memory: a random read costs what a sequential one
    // does. At PostgreSQL's default (4, for spinning disks) the planner joined a result batch's
    // 40 attempts to the whole attempts table by a scan of it (4,250 rows, growing with the
    // history) rather than 40 lookups through its key.
    await lite.exec('set random_page_cost = 1.1');
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new PGlitePool(lite, maintenanceMs) as never }) });
  }
  await migrate(db);
  return db;
}

async function migrate(db: Db) {
  // Under the same lock as the migrations: coordinators started together on a fresh database
  // raced here ("duplicate key value violates unique constraint pg_type_typname_nsp_index").
  await db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(7364501)`.execute(trx);
    await sql`create table if not exists migrations (id int primary key, name text not null, applied_at timestamptz not null default now())`.execute(trx);
  });
  for (const [id, name, up] of migrations) {
    await db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(7364501)`.execute(trx);
      const done = await sql<{ id: number }>`select id from migrations where id = ${id}`.execute(trx);
      if (done.rows.length > 0) return;
      await sql.raw(up).execute(trx);
      await sql`insert into migrations (id, name) values (${id}, ${name})`.execute(trx);
    });
  }
}

/** PostgreSQL's "try again" errors: serialization failure and deadlock. */
const retryable = new Set(['40001', '40P01']);
const transactionAttemptsMax = 5;

/**
 * Runs `work` in a transaction, again (up to 5 times, with a short random pause) when
 * PostgreSQL aborts it as a serialization failure or a deadlock victim. Two coordinator
 * processes judging units whose re-checks cross can deadlock; the loser simply runs again.
 * `work` must do nothing outside the store that cannot be repeated.
 */
export async function inTransaction<T>(db: Db, work: (trx: Trx) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(work);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (!code || !retryable.has(code) || attempt >= transactionAttemptsMax) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
    }
  }
}
