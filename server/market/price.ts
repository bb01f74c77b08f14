import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import { basePrice } from '../ledger/credit.ts';

/**
 * The price of compute, in µcr per GFLOP, moved by demand over supply.
 *
 *   demand  D = FLOPs still to run: each open job's units not yet verified, at the job's mean
 *             FLOPs a unit, × the replicas it asks for (kept on the job's row: a sum over open
 *             jobs, not over the queue; replicas already returned are not taken off)
 *   supply  S = the calibrated GFLOP/s of the nodes online
 *   queue   q = D / S seconds (∞ when work waits and no node is online, 0 with no work)
 *   target    = base × √(q / 60 s), clamped to [base/4, 4·base]
 *   price     = the last price moved toward the target by at most 10% per tick
 *
 * So a minute of queued work for the network online is the base price; four minutes double
 * it, fifteen seconds halve it; the price never leaves [¼, 4] × base and never jumps. The
 * square root keeps it calm: a burst of jobs moves it by a factor, not by the burst's size.
 * A tick happens every SUPERNET_MARKET_MS (10 s): a step from base to the cap takes ≥ 15
 * ticks. The price is the default bid of a new job; a job may bid more to be served first,
 * or less and wait for nodes whose ask it meets.
 */
export const priceMin = basePrice / 4;
export const priceMax = basePrice * 4;
export const stepMax = 0.1;
export const targetQueueSeconds = 60;
/** A job's priority doubles every `agingSeconds` it has waited (server/nodes/leases.ts). */
export const agingSeconds = 600;

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

export function nextPrice(last: number, demandFlops: number, supplyGflops: number): number {
  const queueSeconds = demandFlops <= 0 ? 0 : supplyGflops > 0 ? demandFlops / (supplyGflops * 1e9) : Infinity;
  const target = clamp(basePrice * Math.sqrt(queueSeconds / targetQueueSeconds), priceMin, priceMax);
  return Math.round(clamp(target, last * (1 - stepMax), last * (1 + stepMax)));
}

export async function marketInputs(db: Db, freshMs: number) {
  const demand = await sql<{ flops: number }>`
    select coalesce(sum(units_flops * replication * (units_total - units_verified)::float8 / units_total), 0)::float8 as flops
    from jobs where state in ('queued', 'running') and units_total > 0`.execute(db);
  const supply = await db
    .selectFrom('nodes')
    .select([sql<number>`coalesce(sum(gflops), 0)::float8`.as('gflops'), sql<number>`count(*)::int`.as('nodes')])
    .where('disconnected_at', 'is', null)
    .where('last_seen_at', '>', new Date(Date.now() - freshMs))
    .executeTakeFirstOrThrow();
  return { demandFlops: Number(demand.rows[0]?.flops ?? 0), supplyGflops: Number(supply.gflops), nodes: supply.nodes };
}

export async function currentPrice(db: Db): Promise<number> {
  const last = await db.selectFrom('market_prices').select('price').orderBy('id', 'desc').limit(1).executeTakeFirst();
  return last?.price ?? basePrice;
}

/** One tick: records the next price. Returns it. */
/** Records the next price; true when it moved (a higher price may meet asks it did not). */
export async function tickMarket(db: Db, freshMs: number): Promise<boolean> {
  const { demandFlops, supplyGflops } = await marketInputs(db, freshMs);
  const before = await currentPrice(db);
  const price = nextPrice(before, demandFlops, supplyGflops);
  await db.insertInto('market_prices').values({ price, demand_flops: demandFlops, supply_gflops: supplyGflops }).execute();
  return price !== before;
}
