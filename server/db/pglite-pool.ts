import type { PGlite } from '@electric-sql/pglite';

/**
 * A parameterised statement as one simple query, its parameters written in as quoted literals.
 *
 * PGlite's `query()` speaks the extended protocol to its WebAssembly backend: parse, describe,
 * bind, describe, execute and sync, each a call into it, where `exec()` makes one. A primary
 * key lookup took 314 µs one way and ~150 µs the other here (bench/results/coordinator.md:
 * the claim and result paths are ~8 statements a unit, so this is most of the store's time).
 *
 * Each parameter becomes a quoted literal, of type unknown as an untyped parameter is, so the
 * server resolves it from its context the same way: `'42'`, `'2026-12-02T10:00:00.000Z'`,
 * `'{"a","b"}'` (an array), `'\x00ff'` (bytes), `'{"k":1}'` (an object, as JSON). The store
 * runs with standard_conforming_strings on (checked when the store opens: server/db/index.ts), where the only
 * character special inside '…' is the quote itself, doubled. A NUL cannot be in a PostgreSQL
 * string at all, and would end the query text early: refused as the server refuses it.
 * `$n` is replaced only outside quoted strings, quoted names and comments.
 */
export function inlineParams(sql: string, params: readonly unknown[]): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    let end = i + 1;
    if (c === "'" || c === '"') {
      // A quoted string or name; a doubled quote stays inside it.
      for (;;) {
        const close = sql.indexOf(c, end);
        if (close < 0) throw new Error('inlineParams: an unterminated quote in the statement');
        end = close + 1;
        if (sql[end] !== c) break;
        end++;
      }
    } else if (c === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i);
      end = nl < 0 ? sql.length : nl;
    } else if (c === '/' && sql[i + 1] === '*') {
      const close = sql.indexOf('*/', i + 2);
      end = close < 0 ? sql.length : close + 2;
    } else if (c === '$' && /[0-9]/.test(sql[i + 1] ?? '')) {
      const m = /^\$(\d+)/.exec(sql.slice(i, i + 12))!;
      const n = Number(m[1]);
      if (n < 1 || n > params.length) throw new Error(`inlineParams: $${n} has no parameter (${params.length} given)`);
      out += literal(params[n - 1]);
      i += m[0].length;
      continue;
    }
    out += sql.slice(i, end);
    i = end;
  }
  return out;
}

function literal(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  return quote(text(value));
}

/** A parameter's text form, as PostgreSQL reads it for any type. */
function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return '\\x' + Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
  if (Array.isArray(value)) return '{' + value.map((v) => (v === null || v === undefined ? 'NULL' : '"' + text(v).replace(/[\\"]/g, '\\$&') + '"')).join(',') + '}';
  return JSON.stringify(value);
}

function quote(s: string): string {
  if (s.includes('\0')) throw new Error('invalid byte sequence for encoding "UTF8": 0x00');
  return "'" + s.replaceAll("'", "''") + "'";
}

/**
 * Makes one PGlite instance look like a `pg.Pool` to kysely's PostgresDialect.
 * PGlite has a single connection, so `connect()` hands it out to one holder at a time:
 * a kysely transaction keeps it from BEGIN to COMMIT, and other queries wait their turn.
 * (Races therefore cannot show on PGlite; concurrency is tested on PostgreSQL.)
 *
 * The trap: inside `db.transaction().execute(trx => …)`, every query must go through `trx`.
 * A query on `db` (or a helper that uses it without being handed trx, such as BlobStore.read)
 * waits for the transaction's connection, which waits for that query: a silent deadlock here,
 * while on PostgreSQL it merely runs outside the transaction.
 *
 * (PGlite in a worker thread of its own was tried: no faster, 236 vs 224 units/s with 16 nodes
 * and 267 vs 286 with 48, since the one connection is held while the transaction's JavaScript
 * runs too, and each statement then crossed threads twice.)
 */
export class PGlitePool {
  #queue: Promise<void> = Promise.resolve();

  constructor(readonly pg: PGlite) {}

  async connect() {
    let release!: () => void;
    const turn = new Promise<void>((resolve) => (release = resolve));
    const previous = this.#queue;
    this.#queue = previous.then(() => turn);
    await previous;
    const pg = this.pg;
    return {
      async query(sql: string, params: readonly unknown[]) {
        const command = /^\s*(\w+)/.exec(sql)?.[1]?.toUpperCase() ?? 'SELECT';
        // exec runs several statements (migrations); the last one's rows are the answer.
        const results = await pg.exec(params.length ? inlineParams(sql, params) : sql);
        const last = results.at(-1);
        return { command, rows: last?.rows ?? [], rowCount: last?.affectedRows ?? 0 };
      },
      release,
    };
  }

  async end() {
    await this.#queue;
    await this.pg.close();
  }
}
