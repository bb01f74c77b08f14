import type { PGlite } from '@electric-sql/pglite';
import { PreparedNames } from './prepared.ts';

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
  return rewrite(sql, params, (n) => literal(params[n - 1]));
}

/** A statement's text cut where its parameters are: text, `$n`, or a list of nothing but parameters after IN / NOT IN. */
type Part = string | number | { ns: number[]; not: boolean };

/**
 * A statement's parts, found once per text: the walk below took 2.6% of the coordinator's time
 * on PGlite (bench/coordinator, 10,000 units), for texts that repeat thousands of times.
 */
const templates = new Map<string, Part[]>();
const templatesMax = 2000;

/**
 * Walks a statement's text outside quoted strings, quoted names and comments, replacing each
 * `$n` with `param(n)`, and each list of nothing but parameters after IN or NOT IN with
 * `list(ns, not)` where given.
 */
function rewrite(sql: string, params: readonly unknown[], param: (n: number) => string, list?: (ns: number[], not: boolean) => string): string {
  let parts = templates.get(sql);
  if (!parts) {
    parts = cut(sql);
    if (templates.size >= templatesMax) templates.clear();
    templates.set(sql, parts);
  }
  const check = (n: number) => {
    if (n < 1 || n > params.length) throw new Error(`inlineParams: $${n} has no parameter (${params.length} given)`);
    return n;
  };
  let out = '';
  for (const part of parts) {
    if (typeof part === 'string') out += part;
    else if (typeof part === 'number') out += param(check(part));
    else if (list) out += list(part.ns.map(check), part.not);
    else out += `${part.not ? 'not ' : ''}in (${part.ns.map((n) => param(check(n))).join(', ')})`;
  }
  return out;
}

function cut(sql: string): Part[] {
  const parts: Part[] = [];
  let text = '';
  let i = 0;
  const inList = /(not\s+)?in\s*\(\s*(\$\d+(?:\s*,\s*\$\d+)*)\s*\)/iy;
  const push = (part: Part) => {
    if (text) parts.push(text);
    text = '';
    parts.push(part);
  };
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
      push(Number(m[1]));
      i += m[0].length;
      continue;
    } else if ((c === 'i' || c === 'I' || c === 'n' || c === 'N') && /\s/.test(sql[i - 1] ?? '')) {
      inList.lastIndex = i;
      const m = inList.exec(sql);
      if (m) {
        push({ ns: m[2]!.split(',').map((p) => Number(p.trim().slice(1))), not: !!m[1] });
        i += m[0].length;
        continue;
      }
    }
    text += sql.slice(i, end);
    i = end;
  }
  if (text) parts.push(text);
  return parts;
}

/**
 * The same statement with every IN list of parameters as one array parameter (`= any($k)`,
 * `<> all($k)`: the same rows, nulls alike), so that its text does not change with the list's
 * length and one prepared statement serves every batch size.
 */
export function collapseLists(sql: string, params: readonly unknown[]): { sql: string; params: unknown[] } {
  // The new text depends on the old text only, not on the values: made once per text, and then
  // handed out as the same string each time (its hash kept by the engine), which the prepared
  // statements' map (server/db/prepared.ts) is keyed by: every statement a coordinator sends
  // passes here, ~20 a claim round and result batch.
  let plan = collapsed.get(sql);
  if (!plan || plan.count !== params.length) {
    const picks: (number | number[])[] = [];
    const text = rewrite(
      sql,
      params,
      (n) => (picks.push(n), `$${picks.length}`),
      (ns, not) => (picks.push(ns), `${not ? '<> all' : '= any'}($${picks.length})`),
    );
    plan = { sql: text, picks, count: params.length };
    if (collapsed.size >= templatesMax) collapsed.clear();
    collapsed.set(sql, plan);
  }
  return { sql: plan.sql, params: plan.picks.map((p) => (typeof p === 'number' ? params[p - 1] : p.map((n) => params[n - 1]))) };
}

/** collapseLists' texts, by the text they were made from: `picks` says which parameters go where. */
const collapsed = new Map<string, { sql: string; picks: (number | number[])[]; count: number }>();

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
  readonly #statements: Statements;
  readonly #maintainer: NodeJS.Timeout;
  #maintaining: Promise<unknown> | null = null;
  #maintainedAt = performance.now();

  /**
   * Maintenance is due every `maintainMs`: looked for on a timer while the store is idle, and
   * each time the connection is handed back. The timer alone was not enough: a caller that
   * awaits nothing but the store (the ledger's model test, an import) never yields to the event
   * loop's timers, since PGlite answers within the same turn, and in the model test's 1,000 runs
   * not one pass ran: its ledger writes slowed from 2.5 to 6.4 ms as dead rows piled up.
   */
  constructor(readonly pg: PGlite, readonly maintainMs = 5000) {
    this.#statements = new Statements(pg);
    this.#maintainer = setInterval(() => this.#maintainIfDue(), maintainMs);
    this.#maintainer.unref();
  }

  #maintainIfDue() {
    if (this.pg.closed) return clearInterval(this.#maintainer);
    if (this.#maintaining || performance.now() - this.#maintainedAt < this.maintainMs) return;
    this.#maintainedAt = performance.now();
    this.#maintaining = this.maintain()
      .catch((err) => console.error(`store maintenance: ${(err as Error).message}`))
      .finally(() => (this.#maintaining = null));
  }

  /**
   * PostgreSQL's autovacuum, by its own rule, for the one session PGlite has: PGlite runs the
   * server in single-user mode, where no autovacuum worker ever starts. Without it nothing
   * refreshes a table's statistics, so a prepared statement (Statements below) keeps the
   * generic plan it got while its tables were empty: a lookup of 26 transfers by id was a walk
   * of every transfer, 2.6 ms at 2,600 rows and 13.4 ms at 15,600, against 1.0 ms through the
   * index once analyzed; and the claim's queue walk, planned each time but from the statistics
   * of an empty store, joined every live attempt to every unit it passed over (3.8 ms at 10,000
   * units and 64 leases, 0.9 ms once analyzed). An ANALYZE invalidates the plans that read the
   * table, so they are planned again for its size. Nor would dead row versions ever be reclaimed
   * (every unit and attempt changes state several times), so tables and indexes would only grow.
   *
   * A table is analyzed once the rows changed since its last ANALYZE pass 50 + 10% of its rows,
   * vacuumed (and analyzed) once its dead rows pass 50 + 20%, or the rows inserted since its last
   * VACUUM 1,000 + 20% (autovacuum's defaults). The statistics behind it reach
   * pg_stat_user_tables within about a second of a transaction. Each pass holds the one
   * connection, as a transaction does. Returns the tables it vacuumed or analyzed. (It replaced
   * a VACUUM ANALYZE of the whole store once a minute: ~340 ms a minute at 10,000 units, of
   * tables mostly unchanged, and a store's first minute planned on empty tables.)
   */
  async maintain(): Promise<string[]> {
    const conn = await this.connect();
    try {
      const tables = await this.pg.query<{ name: string; live: number; dead: number; changed: number; inserted: number }>(
        `select format('%I.%I', schemaname, relname) as name, n_live_tup::float8 as live, n_dead_tup::float8 as dead,
           n_mod_since_analyze::float8 as changed, n_ins_since_vacuum::float8 as inserted from pg_stat_user_tables`,
      );
      const done: string[] = [];
      for (const t of tables.rows) {
        const vacuum = t.dead > 50 + 0.2 * t.live || t.inserted > 1000 + 0.2 * t.live;
        if (!vacuum && t.changed <= 50 + 0.1 * t.live) continue;
        await this.pg.exec(`${vacuum ? 'vacuum (analyze)' : 'analyze'} ${t.name}`);
        done.push(t.name);
      }
      return done;
    } finally {
      conn.release();
    }
  }

  async connect() {
    let release!: () => void;
    const turn = new Promise<void>((resolve) => (release = resolve));
    const previous = this.#queue;
    this.#queue = previous.then(() => turn);
    await previous;
    const pg = this.pg;
    const statements = this.#statements;
    const handBack = () => {
      release();
      this.#maintainIfDue();
    };
    return {
      async query(sql: string, params: readonly unknown[]) {
        const command = /^\s*(\w+)/.exec(sql)?.[1]?.toUpperCase() ?? 'SELECT';
        // exec runs several statements (migrations); the last one's rows are the answer.
        const results = params.length ? await statements.run(sql, params) : await pg.exec(sql);
        const last = results.at(-1);
        return { command, rows: last?.rows ?? [], rowCount: last?.affectedRows ?? 0 };
      },
      release: handBack,
    };
  }

  async end() {
    clearInterval(this.#maintainer);
    await this.#maintaining;
    await this.#queue;
    await this.pg.close();
  }
}

/** Statements prepared at most; past it the one used least lately is deallocated. */
const preparedMax = 1000;

/** Named prepared statements on the one PGlite session (PreparedNames), run as PREPARE and EXECUTE. */
class Statements {
  #names = new PreparedNames(preparedMax);

  constructor(private readonly pg: PGlite) {}

  async run(written: string, given: readonly unknown[]) {
    const { sql, params } = collapseLists(written, given);
    const named = this.#names.name(sql);
    if (named?.evicted) await this.pg.exec(`deallocate ${named.evicted}`);
    if (named?.fresh) {
      try {
        await this.pg.exec(`prepare ${named.name} as ${sql}`);
      } catch {
        this.#names.forget(sql); // written out as before (an aborted transaction says so there)
        return this.pg.exec(inlineParams(sql, params));
      }
    }
    if (!named) return this.pg.exec(inlineParams(sql, params));
    return this.pg.exec(`execute ${named.name}(${params.map(literal).join(', ')})`);
  }
}
