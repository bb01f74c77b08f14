import { describe, expect, it } from 'vitest';
import { basePrice, payFor, toMicro } from '../../server/ledger/credit.ts';
import { nextPrice, priceMax, priceMin, stepMax, targetQueueSeconds } from '../../server/market/price.ts';

describe('the price rule', () => {
  it('rests at the base price when a minute of work is queued for the network online', () => {
    const gflops = 100;
    expect(nextPrice(basePrice, gflops * 1e9 * targetQueueSeconds, gflops)).toBe(basePrice);
  });

  it('moves toward demand over supply by at most 10% a tick, and never leaves [base/4, 4·base]', () => {
    let up = basePrice;
    let down = basePrice;
    for (let tick = 0; tick < 100; tick++) {
      const u = nextPrice(up, 1e15, 0); // work waits, no node online
      const d = nextPrice(down, 0, 50); // nodes idle, no work
      expect(u).toBeGreaterThanOrEqual(up);
      expect(u).toBeLessThanOrEqual(Math.round(up * (1 + stepMax)));
      expect(d).toBeLessThanOrEqual(down);
      expect(d).toBeGreaterThanOrEqual(Math.round(down * (1 - stepMax)));
      [up, down] = [u, d];
    }
    expect(up).toBe(priceMax);
    expect(down).toBe(priceMin);
    // Four minutes of queue double the price, fifteen seconds halve it (√ of the pressure).
    let p = basePrice;
    for (let i = 0; i < 50; i++) p = nextPrice(p, 4 * 60 * 1e9, 1);
    expect(p).toBe(2 * basePrice);
    for (let i = 0; i < 50; i++) p = nextPrice(p, 15 * 1e9, 1);
    expect(p).toBe(basePrice / 2);
  });
});

describe('credits', () => {
  it('pays FLOPs × price exactly, rounded up to a whole µcr, for any unit size', () => {
    expect(payFor(1e9, basePrice)).toBe(1_000_000); // 1 GFLOP at the base price is 1 credit
    expect(payFor(2 * 64 * 128 * 64, basePrice)).toBe(1049);
    expect(payFor(1, 1)).toBe(1); // never worth nothing
    expect(payFor(2 * 8192 ** 3, 4 * basePrice)).toBe(4_398_046_512); // past 2^53 in the product: BigInt
  });

  it('takes credits with up to 6 decimals and refuses more', () => {
    expect(toMicro(12.5, 'x')).toBe(12_500_000);
    expect(toMicro(0.000001, 'x')).toBe(1);
    expect(() => toMicro(0.0000001, 'amount')).toThrow(/at most 6 decimals/);
  });
});
