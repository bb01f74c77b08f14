import { badRequest } from '../errors.ts';
import { formatCredits } from './format.ts';

/**
 * What a credit is.
 *
 * 1 credit buys 1 GFLOP (10⁹ floating-point operations) of verified work at the base price.
 * The size is chosen so that what people meet reads at a glance: a 1024² matrix product
 * costs 2.1 credits, a 2048² one 17, a 512² render at 64 samples 335; a unit pays
 * hundredths to a few credits, a software-rendered tab (about 1 GFLOP/s of verified work)
 * earns some 3,600 credits an hour and a laptop's GPU hundreds of thousands. (At 1 credit
 * per TFLOP, as before, a unit paid 0.00003 and a balance of 100.00 never moved.)
 *
 * The ledger stores integer micro-credits (µcr): 1 credit = 1,000,000 µcr, so every amount is
 * exact; the largest balance, 2⁵³ µcr ≈ 9·10⁹ credits, is 9 EFLOP of work.
 * Prices (a job's bid, a node's ask, the market price) are µcr per GFLOP: the base price is
 * 1,000,000 µcr/GFLOP = 1 credit/GFLOP.
 *
 * A unit's pay is computed by the coordinator from the unit it issued — its FLOPs, which the
 * workload's shard computed, times its job's bid — rounded up to a whole µcr, so no unit is
 * worth nothing. A node's reported speed or run time never enters it.
 */
export const microPerCredit = 1_000_000;
export const basePrice = microPerCredit;

/** µcr for `flops` at `price` µcr/GFLOP, rounded up; exact (BigInt) for any sizes. */
export function payFor(flops: number, price: number): number {
  const numerator = BigInt(Math.round(flops)) * BigInt(price);
  const giga = 10n ** 9n;
  return Number((numerator + giga - 1n) / giga);
}

/** Credits (a number with up to 6 decimals, as the API takes them) to µcr; 400 otherwise. */
export function toMicro(credits: number, what: string): number {
  const micro = Math.round(credits * microPerCredit);
  if (!Number.isFinite(credits) || Math.abs(micro - credits * microPerCredit) > 1e-6 * Math.max(1, Math.abs(micro))) {
    throw badRequest(`${what} takes credits with at most 6 decimals (1 µcr = 0.000001 credit).`);
  }
  if (!Number.isSafeInteger(micro)) throw badRequest(`${what} is too large.`);
  return micro;
}

/** µcr to credits, for showing (exact for every amount the ledger can hold). */
export const toCredits = (micro: number) => micro / microPerCredit;

/** µcr written for people, as every surface writes credits (server/ledger/format.ts). */
export const showCredits = (micro: number) => formatCredits(toCredits(micro));
