import { describe, expect, it } from 'vitest';
import { Pacer } from '../../shaders/pacer.ts';

describe('the throttle (Pacer)', () => {
  it('rests busy·(1−s)/s after a dispatch, less the idle time since; banks nothing; measures the busy share', async () => {
    let now = 0;
    const pacer = new Pacer(() => now);
    const slept: number[] = [];
    const realSetTimeout = globalThis.setTimeout;
    globalThis.setTimeout = ((fn: () => void, ms: number) => {
      slept.push(ms);
      now += ms;
      fn();
      return 0;
    }) as typeof setTimeout;
    try {
      pacer.share = 0.5;
      await pacer.rest(); // nothing owed yet
      pacer.busy(0, 100);
      now = 100;
      await pacer.rest(); // owes 100 ms
      pacer.busy(200, 300);
      now = 340; // 40 ms idle anyway (an upload): 60 ms left to rest
      await pacer.rest();
      pacer.busy(400, 500);
      now = 5000; // a long idle spell…
      await pacer.rest();
      pacer.busy(5000, 5100); // …buys no burst: the next dispatch still owes its rest
      now = 5100;
      await pacer.rest();
      expect(slept).toEqual([100, 60, 100]);
      expect(pacer.busyShare(0, 600)).toBeCloseTo(0.5, 5);
      pacer.share = 0.25;
      pacer.busy(5200, 5300);
      now = 5300;
      await pacer.rest();
      expect(slept.at(-1)).toBe(300);
      pacer.share = 0.01;
      expect(pacer.share).toBe(0.05); // the floor
      expect(() => (pacer.share = 0)).toThrow(/above 0/);
    } finally {
      globalThis.setTimeout = realSetTimeout;
    }
  });
});
