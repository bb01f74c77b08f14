import { badRequest } from '../errors.ts';

/**
 * What a credit is.
 *
 * 1 credit buys 1 TFLOP (10¹² floating-point operations) of verified work at the base price.
 * The ledger stores integer micro-credits (µcr): 1 credit = 1,000,000 µcr, so every amount is
 * exact and the largest balance (2⁵³ µcr ≈ 9·10⁹ credits) is far beyond any account's.
 * Prices (a job's bid, a node's ask, the market price) are µcr per TFLOP: the base price is
 * 1,000,000 µcr/TFLOP = 1 credit/TFLOP.
 *
 * A unit's pay is computed by the coordinator from the unit it issued — its FLOPs, which the
 * workload's shard computed, times its job's bid — rounded up to a whole µcr, so no unit is
 * worth nothing. A node's reported speed or run time never enters it.
 */
export const microPerCredit = 1_000_000;
export const basePrice = microPerCredit;

/** µcr for `flops` at `price` µcr/TFLOP, rounded up; exact (BigInt) for any sizes. */
export function payFor(flops: number, price: number): number {
  const numerator = BigInt(Math.round(flops)) * BigInt(price);
  const tera = 10n ** 12n;
  return Number((numerator + tera - 1n) / tera);
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
