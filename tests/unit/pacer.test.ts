import { describe, expect, it } from 'vitest';
import { Pacer } from '../../shaders/pacer.ts';

describe('the throttle (Pacer)', () => {
  it('rests busy·(1−s)/s after a dispatch, less the idle time since; banks at most a second of idle; measures the busy share', async () => {
    let now = 0;
    const pacer = new Pacer(() => now);
    const slept: number[] = [];
    const realSetTimeout = globalThis.setTimeout;
    let late = 0;
    globalThis.setTimeout = ((fn: () => void, ms: number) => {
      slept.push(ms);
      now += ms + late;
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
      now = 700; // 200 ms idle (an upload, the next unit): 100 pays the debt, 100 is banked…
      await pacer.rest();
      pacer.busy(700, 800);
      now = 800;
      await pacer.rest(); // …and pays the next dispatch's rest
      pacer.busy(800, 900);
      now = 900;
      await pacer.rest();
      expect(slept).toEqual([100, 60, 100]);
      expect(pacer.busyShare(0, 1000)).toBeCloseTo(0.5, 5); // the gap was not lost: 500 busy of 1000
      expect(pacer.longestBusy(450, 1000)).toBe(100);
      expect(pacer.longestBusy(1000, 2000)).toBe(0);
      now = 60_000; // a long idle spell buys at most bankMsMax of rest: ten 100 ms dispatches…
      for (let i = 0; i < 10; i++) {
        await pacer.rest();
        pacer.busy(now, (now += 100));
      }
      await pacer.rest();
      expect(slept).toHaveLength(3);
      pacer.busy(now, (now += 100)); // …then rest is owed again
      await pacer.rest();
      expect(slept).toEqual([100, 60, 100, 100]);
      late = 30; // a timer that fires 30 ms late: the extra rest is banked
      pacer.busy(now, (now += 100));
      await pacer.rest();
      pacer.busy(now, (now += 100));
      late = 0;
      await pacer.rest();
      expect(slept.slice(-2)).toEqual([100, 70]);
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
