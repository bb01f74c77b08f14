import { describe, expect, it } from 'vitest';
import { tilesAgree } from '../../workloads/matmul/coordinator.ts';
import { randomMatrix } from '../../workloads/matmul/random.ts';
import { decide, type Returned } from '../../server/verify/replicate.ts';
import { disagreeingTrustedMin, replicasCap, replicasMax } from '../../server/jobs/states.ts';
import { accountTrust, spotRate, trust } from '../../server/verify/reputation.ts';
import { matmulReference } from '../../workloads/matmul/reference.ts';

const r = (id: string, holder: string, value: number): Returned => ({ id, holder, sha256: id, bytes: new Uint8Array([value]) });
const same = (x: Uint8Array, y: Uint8Array) => x[0] === y[0];

describe('replication decisions', () => {
  it('waits for the second replica', () => {
    expect(decide([r('a', 'alice', 1)], 2, same)).toEqual({ kind: 'wait' });
  });

  it('verifies two agreeing results of different accounts', () => {
    expect(decide([r('a', 'alice', 1), r('b', 'bob', 1)], 2, same)).toMatchObject({ kind: 'verified', valid: ['a', 'b'], invalid: [] });
  });

  it('never counts two results of one holder as a quorum', () => {
    expect(decide([r('a', 'alice', 1), r('b', 'alice', 1)], 2, same)).toMatchObject({ kind: 'escalate' });
  });

  it('asks for a tie-break replica on disagreement, then marks the odd one out invalid', () => {
    expect(decide([r('a', 'alice', 1), r('b', 'bob', 2)], 2, same)).toEqual({ kind: 'escalate', replicas: 3 });
    expect(decide([r('a', 'alice', 1), r('b', 'bob', 2), r('c', 'carol', 2)], 3, same)).toMatchObject({ kind: 'verified', accepted: { id: 'b' }, valid: ['b', 'c'], invalid: ['a'] });
  });

  it('gives up when six replicas all disagree, three of them from trusted nodes: evidence about the unit', () => {
    const all = ['u', 'v', 'w', 'x', 'y', 'z'].map((holder, i) => ({ ...r(holder, holder, i), trusted: i >= 3 }));
    expect(decide(all.slice(0, 3), 3, same)).toEqual({ kind: 'escalate', replicas: 4 });
    expect(decide(all.slice(0, 5), 5, same)).toEqual({ kind: 'escalate', replicas: 6 });
    expect(decide(all, 6, same)).toMatchObject({ kind: 'failed', reason: expect.stringMatching(/6 results .* disagree \(3 of them from trusted nodes\)/) });
  });

  it('asks on past six while the disagreeing results are mostly from unproven nodes (liars each lying their own way), up to twelve', () => {
    const strangers = Array.from({ length: replicasCap }, (_, i) => ({ ...r(`s${i}`, `s${i}`, i), trusted: i < disagreeingTrustedMin - 1 }));
    expect(decide(strangers.slice(0, replicasMax), replicasMax, same)).toEqual({ kind: 'escalate', replicas: replicasMax + 1 });
    expect(decide(strangers.slice(0, replicasCap - 1), replicasCap - 1, same)).toEqual({ kind: 'escalate', replicas: replicasCap });
    expect(decide(strangers, replicasCap, same)).toMatchObject({ kind: 'failed' });
    // An honest pair among them verifies the unit whenever it comes.
    const withPair = [...strangers.slice(0, 7), r('h1', 'honest-1', 99), r('h2', 'honest-2', 99)];
    expect(decide(withPair, 9, same)).toMatchObject({ kind: 'verified', valid: ['h1', 'h2'] });
  });
});

describe('matmul tolerance', () => {
  const k = 512;
  const honest = matmulReference(randomMatrix(32, k, 1), randomMatrix(k, 32, 2)).data;

  it('accepts the rounding differences of another summation order', () => {
    // Float32 accumulation in reverse order: what a different honest kernel produces.
    const a = randomMatrix(32, k, 1), b = randomMatrix(k, 32, 2);
    const other = new Float32Array(32 * 32);
    for (let i = 0; i < 32; i++) for (let j = 0; j < 32; j++) {
      let s = Math.fround(0);
      for (let p = k - 1; p >= 0; p--) s = Math.fround(s + Math.fround(a.data[i * k + p]! * b.data[p * 32 + j]!));
      other[i * 32 + j] = s;
    }
    expect(tilesAgree(honest, other, k)).toBe(true);
  });

  it('catches one element off by a few parts in ten thousand of the tile scale', () => {
    let scale = 0;
    for (const v of honest) scale = Math.max(scale, Math.abs(v));
    const lie = honest.slice();
    lie[77] = lie[77]! + 2 * (4 * k * 2 ** -24) * 2 * scale; // just past the bound
    expect(tilesAgree(honest, lie, k)).toBe(false);
  });

  it('never agrees with NaN, infinities or a different shape', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const lie = honest.slice();
      lie[3] = bad;
      expect(tilesAgree(honest, lie, k)).toBe(false);
    }
    expect(tilesAgree(honest, honest.subarray(1), k)).toBe(false);
  });
});

describe('trust', () => {
  it('is zero for a new node, one half at the 10-result floor, and climbs towards one', () => {
    expect(trust(0)).toBe(0);
    expect(trust(10)).toBe(0.5);
    expect(trust(90)).toBe(0.9);
  });

  it('gives an account trust for its valid results and none once it lied', () => {
    expect(accountTrust(0, 0)).toBe(0);
    expect(accountTrust(30, 0)).toBe(0.75);
    expect(accountTrust(1000, 1)).toBe(0);
  });

  it('spot-checks trusted nodes less as their record grows, never less than 5%', () => {
    expect(spotRate(10)).toBe(0.5);
    expect(spotRate(90)).toBeCloseTo(0.1);
    expect(spotRate(10_000)).toBe(0.05);
  });
});
