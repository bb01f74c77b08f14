/** Put first in a statement that must be planned for its parameters each time (see PreparedNames). */
export const planEachTime = '/* planned each time */';

/**
 * Which statements run as named prepared statements on one session, by statement text: the
 * policy both stores share (PGlite's one session, server/db/pglite-pool.ts, and each PostgreSQL
 * connection, server/db/index.ts).
 *
 * A statement written out is parsed, analysed and planned each time it comes; a prepared one
 * is parsed once, and PostgreSQL's plan cache then keeps its plan: after five custom plans it
 * uses a generic one where the planner estimates it no costlier (plan_cache_mode auto); where
 * the estimate says otherwise (a partial index's condition given as a parameter) it plans each
 * time. On PGlite planning was most of a statement's cost: the claim's holdings query took
 * 1.17 ms written out and 0.16 ms as EXECUTE of a statement prepared once, a primary-key lookup
 * 0.23 vs 0.08 ms. On PostgreSQL the server's CPU for a claim round and its result batch fell
 * from 6.8 to 5.4 ms with one unit each and from 26.8 to 16.8 ms with 48 (bench/cycle.ts, old
 * and new side by side, medians of three).
 *
 * - A statement is prepared the second time its text comes, so one-off texts (a batch's long
 *   VALUES list of a size not seen again) are not kept. The callers collapse IN lists into one
 *   array parameter first (collapseLists), so a list's length does not change the text.
 * - Only data statements are prepared.
 * - A statement that starts with a comment (`planEachTime`) is never prepared: one whose best
 *   plan depends on its parameters more than the planner's estimates show (the claim's walk of
 *   a job's pending units from its cursor took 19 ms with a generic plan and 1.8 ms planned each
 *   time, on PGlite).
 * - At most `max` per session; past it, the one used least lately is deallocated.
 *
 * Names are never reused, so a DEALLOCATE that failed (in a transaction already aborted) leaves
 * one statement behind and nothing wrong.
 */
export class PreparedNames {
  #names = new Map<string, string>();
  #seen = new Set<string>();
  #next = 0;

  constructor(readonly max: number) {}

  /**
   * The name `sql` runs under now, or null (written out). `fresh`: first use of the name (to
   * prepare); `evicted`: a name to deallocate, no longer handed out.
   */
  name(sql: string): { name: string; fresh: boolean; evicted: string | null } | null {
    const name = this.#names.get(sql);
    if (name) {
      this.#names.delete(sql); // to the back: used last
      this.#names.set(sql, name);
      return { name, fresh: false, evicted: null };
    }
    if (this.#seen.has(sql) && /^\s*(select|insert|update|delete|with)\b/i.test(sql)) {
      this.#seen.delete(sql);
      const fresh = `sn_${this.#next++}`;
      this.#names.set(sql, fresh);
      let evicted: string | null = null;
      if (this.#names.size > this.max) {
        const [oldest, old] = this.#names.entries().next().value!;
        this.#names.delete(oldest);
        evicted = old;
      }
      return { name: fresh, fresh: true, evicted };
    }
    if (this.#seen.size >= this.max) this.#seen.clear();
    this.#seen.add(sql);
    return null;
  }

  /** `sql` could not be prepared: it is written out from now on, as a text seen once. */
  forget(sql: string) {
    this.#names.delete(sql);
  }
}
