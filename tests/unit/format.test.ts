import { describe, expect, it } from 'vitest';
import { basePrice, payFor, showCredits } from '../../server/ledger/credit.ts';
import { creditsPerHour, formatBytes, formatCredits } from '../../server/ledger/format.ts';

describe('credits as people read them', () => {
  it('writes every amount with the digits that matter: a unit, a job, a balance that moves', () => {
    expect(formatCredits(0)).toBe('0');
    expect(formatCredits(0.033)).toBe('0.033');
    expect(formatCredits(0.000238)).toBe('0.00024');
    expect(formatCredits(0.00023799999999999998)).toBe('0.00024'); // float noise never shows
    expect(formatCredits(0.5)).toBe('0.5');
    expect(formatCredits(17.179869)).toBe('17.18');
    expect(formatCredits(100_000)).toBe('100,000.00');
    expect(formatCredits(100_000 - 17.18)).toBe('99,982.82');
    expect(formatCredits(-2.5)).toBe('−2.50');
    expect(formatCredits(2_147_483.648)).toBe('2,147,484');
  });

  it('sizes the credit so that a unit, a typical job and a grant read at a glance', () => {
    // A 256³ tile, a 1024² and a 2048² matrix product at the base price (1 credit per GFLOP).
    expect(showCredits(payFor(2 * 256 ** 3, basePrice))).toBe('0.034');
    expect(showCredits(payFor(2 * 1024 ** 3, basePrice))).toBe('2.15');
    expect(showCredits(payFor(2 * 2048 ** 3, basePrice))).toBe('17.18');
    // A 512² render at 64 samples (20,000 FLOPs a sample).
    expect(showCredits(payFor(512 * 512 * 64 * 20_000, basePrice))).toBe('335.54');
  });

  it('says what an hour earns at this pace once there is a pace to say', () => {
    expect(creditsPerHour(12, 5_000)).toBeNull();
    expect(creditsPerHour(0, 600_000)).toBeNull();
    expect(creditsPerHour(60, 60_000)).toBe('about 3,600 credits an hour at this pace');
  });
});

describe('formatBytes', () => {
  it('says bytes in powers of 1000 with three digits', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(64 * 1024)).toBe('65.5 kB');
    expect(formatBytes(4 * 1024 * 1024)).toBe('4.19 MB');
    expect(formatBytes(12_300_000_000)).toBe('12.3 GB');
    expect(formatBytes(-5)).toBe('0 B');
  });
});
