import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/coordinator.ts';
import { collapseLists, inlineParams, PGlitePool } from '../../server/db/pglite-pool.ts';
import { planEachTime } from '../../server/db/prepared.ts';

// PGlitePool runs parameterised statements as simple queries with their parameters written in.
// Each value must reach the server exactly as the extended protocol's parameter would, and no
// value may change the statement around it.
describe('parameters written into statements for PGlite', () => {
  let pg: PGlite;
  beforeAll(async () => {
    pg = await PGlite.create();
    await pg.exec(`create table t (id serial primary key, s text, n int8, f float8, b boolean, at timestamptz, j jsonb, bytes bytea, tags text[], u uuid)`);
  });
  afterAll(() => pg.close());

  const tricky = [
    "it's", "''", "\\", "\\'; drop table t; --", '$1', "'$2'", '"quoted"', '-- not a comment', '/* nor this */', 'émoji 🚀', '{a,b}', ' ', '',
  ];

  it('gives every value to the server as its parameter would', async () => {
    const sql = 'insert into t (s, n, f, b, at, j, bytes, tags, u) values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning s, n, f, b, at, j, bytes, tags, u';
    for (const [k, s] of tricky.entries()) {
      const params = [s, 2 ** 40 + k, 0.1 + k, k % 2 === 0, new Date(1_700_000_000_000 + k), JSON.stringify({ s, k }), new Uint8Array([0, 255, k, 39, 92]), [s, 'x"y', 'back\\slash', null], '6f9619ff-8b86-4d11-b42d-00c04fc964ff'];
      const viaParams = (await pg.query(sql, params)).rows[0];
      const [viaInline] = await pg.exec(inlineParams(sql, params));
      expect(viaInline!.rows[0]).toEqual(viaParams);
      expect((viaParams as { s: string }).s).toBe(s);
    }
    expect((await pg.query<{ n: number }>('select count(*)::int as n from t')).rows[0]!.n).toBe(tricky.length * 2);
  });

  it('replaces $n only outside strings, quoted names and comments, and takes $10 as ten', async () => {
    const params = Array.from({ length: 11 }, (_, i) => `v${i + 1}`);
    const sql = `select $10 as "$1", '$2' as two, $1 as one, $11 as eleven -- $3\n /* $4 */`;
    expect(inlineParams(sql, params)).toBe(`select 'v10' as "$1", '$2' as two, 'v1' as one, 'v11' as eleven -- $3\n /* $4 */`);
    const [r] = await pg.exec(inlineParams(sql, params));
    expect(r!.rows[0]).toEqual({ $1: 'v10', two: '$2', one: 'v1', eleven: 'v11' });
  });

  it('refuses what it cannot write safely: a NUL, a missing parameter', () => {
    expect(() => inlineParams('select $1', ['a\0b'])).toThrow(/0x00/);
    expect(() => inlineParams('select $2', ['a'])).toThrow(/\$2 has no parameter/);
  });

  it('makes a list of parameters after IN or NOT IN one array parameter, and leaves every other $n in order', () => {
    const { sql, params } = collapseLists(`select $1 as "in ($2)" from t where id in ($2, $3,$4) and s not in ($5) and n in (1, $6) and 'in ($7)' <> $7`, [1, 2, 3, 4, 'a', 6, 'x']);
    expect(sql).toBe(`select $1 as "in ($2)" from t where id = any($2) and s <> all($3) and n in (1, $4) and 'in ($7)' <> $5`);
    expect(params).toEqual([1, [2, 3, 4], ['a'], 6, 'x']);
  });

  it('prepares a statement the second time it comes, whatever the length of its lists, with the same answers', async () => {
    const pool = new PGlitePool(pg);
    const conn = await pool.connect();
    const prepared = async () => (await pg.query<{ statement: string }>('select statement from pg_prepared_statements')).rows.map((r) => r.statement);
    await conn.query('insert into t (s, n) values ($1, $2), ($3, $4), ($5, $6)', ['p', 1, 'q', 2, "r'", 3]);
    const select = 'select s from t where s in ($1, $2, $3) and n not in ($4) order by s';
    expect((await conn.query(select, ['p', 'q', "r'", 2])).rows).toEqual([{ s: 'p' }, { s: "r'" }]);
    expect(await prepared()).toEqual([]);
    // The second time, with a shorter list: the same statement, now prepared.
    expect((await conn.query('select s from t where s in ($1, $2) and n not in ($3) order by s', ["r'", 'q', 9])).rows).toEqual([{ s: 'q' }, { s: "r'" }]);
    expect(await prepared()).toEqual([expect.stringContaining('where s = any($1) and n <> all($2)')]);
    expect((await conn.query(select, ['p', 'q', 'z', 1])).rows).toEqual([{ s: 'q' }]);
    expect((await conn.query(select, ['p', 'q', "r'", 3])).rows).toEqual([{ s: 'p' }, { s: 'q' }]);
    const each = `${planEachTime} select s from t where n = $1`;
    for (let i = 0; i < 3; i++) expect((await conn.query(each, [2])).rows).toEqual([{ s: 'q' }]);
    expect(await prepared()).toHaveLength(1);
    conn.release();
  });

  it('keeps statistics as autovacuum would: a statement prepared while its table was empty is planned again once it grows, and dead rows are reclaimed', async () => {
    const lite = await PGlite.create();
    const pool = new PGlitePool(lite);
    try {
      const conn = await pool.connect();
      await conn.query('create table g (id text primary key, v int, a text, b text, c text, d text, e text, f text, h text, i text, j text, k text, l text, m text)', []);
      // As a batch's lookup of its transfers by id: a list of 26, the table empty at first.
      const keys = Array.from({ length: 26 }, (_, i) => `k${i + 1}`);
      const lookup = `select v from g where id in (${keys.map((_, i) => `$${i + 1}`).join(', ')}) order by v`;
      for (let i = 0; i < 8; i++) expect((await conn.query(lookup, keys)).rows).toEqual([]);
      await conn.query(`insert into g select 'k' || i, i from generate_series(1, 30000) i`, []);
      expect((await conn.query(lookup, keys)).rows).toHaveLength(26);
      conn.release();
      const statement = async () => (await lite.query<{ name: string; generic: number }>(`select name, generic_plans::int as generic from pg_prepared_statements where statement like '%from g where%'`)).rows[0]!;
      const genericScan = async () => {
        await lite.exec('set plan_cache_mode = force_generic_plan');
        const rows = (await lite.query<{ 'QUERY PLAN': string }>(`explain execute ${(await statement()).name}('{k1}')`)).rows;
        await lite.exec('reset plan_cache_mode');
        return rows.map((r) => r['QUERY PLAN']).join('\n');
      };
      // The generic plan it kept from the empty table, and uses: a walk of all 30,000 rows for 26.
      expect((await statement()).generic).toBeGreaterThan(0);
      expect(await genericScan()).toMatch(/Seq Scan on g/);
      await eventually(async () => (await pool.maintain(), !/Seq Scan/.test(await genericScan())), 'the lookup planned again', 20_000);
      expect(await genericScan()).toMatch(/Index|Bitmap/);
      const again = await pool.connect();
      expect((await again.query(lookup, keys)).rows).toHaveLength(26);
      await again.query('update g set v = v + 1', []);
      again.release();
      const vacuumed = async () => (await lite.query<{ dead: number; at: Date | null }>(`select n_dead_tup::int as dead, last_vacuum as at from pg_stat_user_tables where relname = 'g'`)).rows[0]!;
      await eventually(async () => (await pool.maintain(), (await vacuumed()).at !== null && (await vacuumed()).dead === 0), 'the dead rows vacuumed', 20_000);
    } finally {
      await pool.end();
    }
  });
  it('maintains a store whose caller never yields to the event loop: each hand-back of the connection looks whether a pass is due', async () => {
    const lite = await PGlite.create();
    const pool = new PGlitePool(lite, 100);
    try {
      const setup = await pool.connect();
      await setup.query('create table hot (id int primary key, n int8)', []);
      await setup.query('insert into hot select i, 0 from generate_series(1, 100) i', []);
      setup.release();
      // Updates and nothing else, as the ledger's model test or an import: PGlite answers within
      // the same turn, so a timer alone never fires here.
      const analyzed = async () => (await lite.query<{ n: number }>(`select analyze_count::int as n from pg_stat_user_tables where relname = 'hot'`)).rows[0]!.n;
      const started = performance.now();
      let updates = 0;
      while ((await analyzed()) === 0) {
        if (performance.now() - started > 30_000) throw new Error(`no maintenance pass in 30 s of ${updates} updates`);
        const conn = await pool.connect();
        await conn.query('update hot set n = n + 1 where id = $1', [(updates++ % 100) + 1]);
        conn.release();
      }
      expect(updates).toBeGreaterThan(0);
    } finally {
      await pool.end();
    }
  });
});
