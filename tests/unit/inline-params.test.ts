import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inlineParams } from '../../server/db/pglite-pool.ts';

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
});
