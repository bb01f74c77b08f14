import { randomUUID } from 'node:crypto';
import pg from 'pg';

/**
 * What one coordinator tells the others on the same PostgreSQL, over LISTEN/NOTIFY:
 * - `work`: something may be claimable that was not (a job, a lapse the sweep found, a
 *   released or failed lease, a replica wanted, a price that moved). Their idle nodes are
 *   asked again at once instead of at their next 1 s recheck.
 * - `cancel`: attempts that no longer count (their unit was decided, their job cancelled):
 *   whichever coordinator holds the node's socket tells it to stop.
 * A notification lost (the listening connection down for a moment) costs latency, never
 * correctness: the store is the truth, idle nodes are rechecked every second and a cancelled
 * attempt's result is refused. PGlite has one coordinator per store, so signals stay local.
 */
export type Signal = { type: 'work' } | { type: 'cancel'; attempts: { id: string; nodeId: string | null }[]; reason: string };

const channel = 'supernet';
/** NOTIFY payloads are at most 8000 bytes: cancels are sent in chunks of this many attempts. */
const cancelsPerNotify = 80;
/** `work` notifications are coalesced: at most one per this long (results come hundreds a second). */
const workGapMs = 50;

export class Signals {
  /** This process, so it skips its own notifications. */
  readonly from = randomUUID();
  readonly #handlers = new Set<(signal: Signal) => void>();
  #pool: pg.Pool | null = null;
  #listener: pg.Client | null = null;
  #closed = false;
  #workTimer: NodeJS.Timeout | null = null;
  #workAt = 0;

  /** With a database URL, listens on PostgreSQL; without, signals reach only this process. */
  constructor(private readonly databaseUrl: string | null) {
    if (databaseUrl) this.#pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    this.#pool?.on('error', () => {});
  }

  async start() {
    if (this.databaseUrl) await this.#listen();
  }

  async #listen() {
    const client = new pg.Client({ connectionString: this.databaseUrl! });
    client.on('notification', (n) => {
      if (n.channel !== channel || !n.payload) return;
      try {
        const { from, signal } = JSON.parse(n.payload) as { from: string; signal: Signal };
        if (from !== this.from) this.#dispatch(signal);
      } catch {
        // Not ours: something else on the channel. Ignored.
      }
    });
    const retry = (err: Error) => {
      if (this.#closed || this.#listener !== client) return;
      console.error(`signals: the LISTEN connection dropped (${err.message}); reconnecting`);
      this.#listener = null;
      client.end().catch(() => {});
      setTimeout(() => void this.#listen().catch((e) => retry(e as Error)), 1000).unref();
    };
    client.on('error', retry);
    client.on('end', () => retry(new Error('ended')));
    this.#listener = client;
    await client.connect();
    await client.query(`listen ${channel}`);
  }

  on(handler: (signal: Signal) => void) {
    this.#handlers.add(handler);
  }

  #dispatch(signal: Signal) {
    for (const handler of this.#handlers) handler(signal);
  }

  /** Tells the other coordinators (this one acts itself before calling). */
  #notify(signal: Signal) {
    if (!this.#pool || this.#closed) return;
    this.#pool.query('select pg_notify($1, $2)', [channel, JSON.stringify({ from: this.from, signal })]).catch((err) => console.error(`signals: NOTIFY failed: ${(err as Error).message}`));
  }

  /** Work appeared here: the other coordinators' idle nodes may ask again. */
  work() {
    if (!this.#pool || this.#workTimer) return;
    const wait = Math.max(0, this.#workAt + workGapMs - Date.now());
    this.#workTimer = setTimeout(() => {
      this.#workTimer = null;
      this.#workAt = Date.now();
      this.#notify({ type: 'work' });
    }, wait);
  }

  /** Attempts that no longer count: every coordinator (this one too) tells the nodes it holds. */
  cancel(attempts: { id: string; nodeId: string | null }[], reason: string) {
    if (!attempts.length) return;
    this.#dispatch({ type: 'cancel', attempts, reason });
    for (let i = 0; i < attempts.length; i += cancelsPerNotify) this.#notify({ type: 'cancel', attempts: attempts.slice(i, i + cancelsPerNotify), reason });
  }

  async close() {
    this.#closed = true;
    if (this.#workTimer) clearTimeout(this.#workTimer);
    await this.#listener?.end().catch(() => {});
    await this.#pool?.end().catch(() => {});
  }
}
