import type { PGlite } from '@electric-sql/pglite';

/**
 * Makes one PGlite instance look like a `pg.Pool` to kysely's PostgresDialect.
 * PGlite has a single connection, so `connect()` hands it out to one holder at a time:
 * a kysely transaction keeps it from BEGIN to COMMIT, and other queries wait their turn.
 * (Races therefore cannot show on PGlite; concurrency is tested on PostgreSQL.)
 *
 * The trap: inside `db.transaction().execute(trx => …)`, every query must go through `trx`.
 * A query on `db` (or a helper that uses it, such as BlobStore.read) waits for the
 * transaction's connection, which waits for that query: a silent deadlock here, while on
 * PostgreSQL it merely runs outside the transaction. Use trx, or helpers that touch no table
 * (BlobStore.readKnown).
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
        if (params.length === 0) {
          // exec runs several statements (migrations); the last one's rows are the answer.
          const results = await pg.exec(sql);
          const last = results.at(-1);
          return { command, rows: last?.rows ?? [], rowCount: last?.affectedRows ?? 0 };
        }
        const result = await pg.query(sql, params as unknown[]);
        return { command, rows: result.rows, rowCount: result.affectedRows ?? 0 };
      },
      release,
    };
  }

  async end() {
    await this.#queue;
    await this.pg.close();
  }
}
