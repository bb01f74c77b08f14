import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { inTransaction, openStore, type Db } from '../server/db/index.ts';
import { freshPostgresUrl } from './helpers/stores.ts';
import { planEachTime } from '../server/db/prepared.ts';

// Deadlocks need two connections: PostgreSQL only.
describe.runIf(process.env.TEST_DATABASE_URL)('transactions on PostgreSQL', () => {
  let db: Db;
  afterAll(() => db?.destroy());

  it('run again when PostgreSQL picks them as a deadlock victim', async () => {
    const url = await freshPostgresUrl();
    db = await openStore({ dataDir: '/tmp', databaseUrl: url });
    const [a, b] = await db.insertInto('accounts').values([{ email: 'a@x.io', password_hash: 'x' }, { email: 'b@x.io', password_hash: 'x' }]).returning('id').execute();
    // Two transactions lock the same two rows in opposite orders, meeting in the middle.
    let runs = 0;
    const lockBoth = (first: string, second: string) =>
      inTransaction(db, async (trx) => {
        runs++;
        await trx.updateTable('accounts').set({ valid: 1 }).where('id', '=', first).execute();
        await new Promise((r) => setTimeout(r, 200));
        await trx.updateTable('accounts').set({ valid: 2 }).where('id', '=', second).execute();
      });
    await Promise.all([lockBoth(a!.id, b!.id), lockBoth(b!.id, a!.id)]);
    expect(runs).toBeGreaterThanOrEqual(3); // a victim ran again (under load, maybe more than once)
    const direct = new pg.Client({ connectionString: url });
    await direct.connect();
    const rows = await direct.query('select valid from accounts');
    await direct.end();
    // Both committed; the victim, run again, committed last: its first row 1, its second 2.
    expect(rows.rows.map((r) => r.valid).sort()).toEqual([1, 2]);
  });
});

describe.runIf(process.env.TEST_DATABASE_URL)('connections to PostgreSQL', () => {
  it('plan for many small statements: no JIT, random reads costed as memory or SSD (server/db/index.ts)', async () => {
    const db = await openStore({ dataDir: '/tmp', databaseUrl: await freshPostgresUrl() });
    try {
      const { sql } = await import('kysely');
      // Every connection of the pool, not only the first: as many at once as it holds.
      const settings = await Promise.all(Array.from({ length: 10 }, () => inTransaction(db, async (trx) => {
        const { rows } = await sql<{ jit: string; cost: string }>`select current_setting('jit') as jit, current_setting('random_page_cost') as cost, pg_sleep(0.05)`.execute(trx);
        return rows[0]!;
      })));
      expect(new Set(settings.map((s) => `${s.jit} ${s.cost}`))).toEqual(new Set(['off 1.1']));
    } finally {
      await db.destroy();
    }
  });

  it('run a statement that comes again as a prepared statement, whatever the length of its lists; never one planned each time; at most 200 a connection', async () => {
    const db = await openStore({ dataDir: '/tmp', databaseUrl: await freshPostgresUrl() });
    try {
      const { sql } = await import('kysely');
      const ids = (await db.insertInto('accounts').values(['p', 'q', 'r'].map((s) => ({ email: `${s}@x.io`, password_hash: "it's" }))).returning(['id', 'email']).execute()).map((r) => r.id);
      // One transaction: one connection, whose prepared statements the last query lists.
      const listed = await inTransaction(db, async (trx) => {
        const emails = (list: string[]) => trx.selectFrom('accounts').select('email').where('id', 'in', list).where('password_hash', '=', "it's").orderBy('email').execute();
        const prepared = async () => (await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(trx)).rows.map((r) => r.statement);
        expect((await emails(ids)).map((r) => r.email)).toEqual(['p@x.io', 'q@x.io', 'r@x.io']);
        const once = await prepared();
        expect((await emails(ids.slice(1))).map((r) => r.email)).toEqual(['q@x.io', 'r@x.io']); // the second time, a shorter list
        const twice = await prepared();
        expect((await emails([ids[0]!])).map((r) => r.email)).toEqual(['p@x.io']);
        for (let i = 0; i < 3; i++) await sql`${sql.raw(planEachTime)} select email from accounts where id = ${ids[0]}`.execute(trx);
        const each = await prepared();
        // Past the bound, the statement used least lately goes: 201 more texts, each twice.
        for (let n = 0; n < 201; n++) for (let i = 0; i < 2; i++) await sql`select ${n}::int + ${i}::int as k, ${sql.raw(String(n))} as n`.execute(trx);
        return { once, twice, each, full: await prepared() };
      });
      expect(listed.once.filter((s) => s.includes('accounts'))).toEqual([]);
      expect(listed.twice.filter((s) => s.includes('accounts'))).toEqual([expect.stringContaining('"id" = any($1)')]);
      expect(listed.each.filter((s) => s.includes('accounts'))).toHaveLength(1);
      expect(listed.full).toHaveLength(200);
      expect(listed.full.some((s) => s.includes('accounts'))).toBe(false);
      expect(listed.full.filter((s) => s.endsWith(' as n')).length).toBe(200);
    } finally {
      await db.destroy();
    }
  });
});

describe.runIf(process.env.TEST_DATABASE_URL)('migrations on PostgreSQL', () => {
  it('run once when several coordinators open a fresh database at the same moment', async () => {
    const url = await freshPostgresUrl();
    const dbs = await Promise.all([1, 2, 3, 4].map(() => openStore({ dataDir: '/tmp', databaseUrl: url })));
    try {
      const { sql } = await import('kysely');
      const applied = (await sql<{ id: number }>`select id from migrations`.execute(dbs[0]!)).rows;
      expect(new Set(applied.map((m) => m.id)).size).toBe(applied.length);
      expect(applied.length).toBeGreaterThanOrEqual(11);
    } finally {
      await Promise.all(dbs.map((db) => db.destroy()));
    }
  });
});

describe('the embedded PGlite store', () => {
  it('vacuums and analyses a table once a job has written enough of it, as autovacuum would (PGlite has none; without statistics the planner picks bad plans)', async () => {
    const { testCoordinator, eventually } = await import('./helpers/coordinator.ts');
    const { TestClient } = await import('./helpers/client.ts');
    const { sql } = await import('kysely');
    const coordinator = await testCoordinator('pglite', { SUPERNET_MAINTENANCE_MS: '200' });
    try {
      // 1,600 units inserted: past autovacuum's 1,000 + 20% inserted since the last VACUUM.
      const dev = await TestClient.signup(coordinator.url, 'dev@store.test');
      await dev.useNewKey();
      await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 320, k: 8, n: 320, seed: 5 }, tile: 8 } }, 201);
      const tended = await eventually(async () => {
        const row = (await sql<{ vacuumed: Date | null; analysed: Date | null }>`
          select last_vacuum as vacuumed, last_analyze as analysed from pg_stat_user_tables where relname = 'units'`.execute(coordinator.deps.db)).rows[0];
        return row?.vacuumed && row.analysed ? row : null;
      }, 'a vacuum and an analyze of the units table', 30_000);
      expect(tended.analysed!.getTime()).toBeGreaterThan(Date.now() - 60_000);
    } finally {
      await coordinator.close();
    }
  });
});
