import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDawnDevice, type DawnDevice } from '../../server/agent/dawn.ts';
import { tuningFile, tuningFor } from '../../server/agent/tuning-cache.ts';
import { randomMatrix } from './random.ts';
import { autotuneMatmul } from './autotune.ts';
import { matmulCandidates, matmulConfigF16, matmulConfigNaive, matmulGpu, type MatmulOptions, type MatmulStats } from './gpu.ts';
import { roundedToHalf } from '../../shaders/npy.ts';
import { matmulReference } from './reference.ts';
import { awkwardShapes } from '../../tests/helpers/shapes.ts';
import { expectClose } from '../../tests/helpers/matrices.ts';

let gpu: DawnDevice;
beforeAll(async () => {
  gpu = await openDawnDevice();
});
afterAll(() => gpu?.device.destroy());

describe('matmul kernels on Dawn (SwiftShader)', () => {
  const configs = [matmulConfigNaive, ...matmulCandidates];
  for (const config of configs) {
    it(`${config.kernel} ${config.wg.join('×')} matches the CPU reference on awkward shapes`, async () => {
      for (const [m, k, n] of awkwardShapes) {
        const a = randomMatrix(m, k, m * 31 + k);
        const b = randomMatrix(k, n, n * 17 + k);
        expectClose(await matmulGpu(gpu.device, a, b, { config }), matmulReference(a, b), k);
      }
    });
  }

  it('with precision f16 (on SwiftShader, the packed kernel), multiplies the float16-rounded inputs, summing in float32, on awkward shapes', async () => {
    expect(matmulConfigF16(gpu.device).kernel).toBe(gpu.device.features.has('shader-f16') ? 'block8x8f16' : 'block8x8f16packed');
    for (const [m, k, n] of awkwardShapes) {
      const a = randomMatrix(m, k, m * 31 + k);
      const b = randomMatrix(k, n, n * 17 + k);
      const got = await matmulGpu(gpu.device, a, b, { precision: 'f16', dispatchFlopsMax: 2 * m * n * 64 });
      expectClose(got, matmulReference(roundedToHalf(a), roundedToHalf(b)), k);
    }
    // It is the rounded product, not the float32 one: at K = 1000 the two differ far beyond float32 noise.
    const a = randomMatrix(16, 1000, 3), b = randomMatrix(1000, 16, 4);
    const got = await matmulGpu(gpu.device, a, b, { precision: 'f16' });
    const exact = matmulReference(a, b);
    const gap = Math.max(...got.data.map((v, i) => Math.abs(v - exact.data[i]!)));
    expect(gap).toBeGreaterThan(1e-4 * Math.max(...exact.data.map(Math.abs)));
  });

  for (const tuned of matmulCandidates.filter((c) => c.kernel.startsWith('swap'))) {
    it(`with precision f16 where autotune chose ${tuned.kernel}, runs its f16 twin, right on awkward shapes`, async () => {
      const twin = matmulConfigF16(gpu.device, tuned);
      expect(twin).toEqual({ kernel: `${tuned.kernel}${gpu.device.features.has('shader-f16') ? 'f16' : 'f16packed'}`, wg: tuned.wg });
      for (const [m, k, n] of awkwardShapes) {
        const a = randomMatrix(m, k, m * 31 + k);
        const b = randomMatrix(k, n, n * 17 + k);
        const got = await matmulGpu(gpu.device, a, b, { config: tuned, precision: 'f16', dispatchFlopsMax: 2 * m * n * 64 });
        expectClose(got, matmulReference(roundedToHalf(a), roundedToHalf(b)), k);
      }
    });
  }
  it('with precision f16 where autotune chose a kernel without an f16 twin, runs block8x8\'s', () => {
    expect(matmulConfigF16(gpu.device, { kernel: 'quad16x4', wg: [64, 1] }).kernel).toMatch(/^block8x8f16/);
  });

  it('the packed and the native f16 kernels give the same numbers (native only where the adapter has shader-f16: a real GPU, not SwiftShader)', async (ctx) => {
    const a = randomMatrix(200, 300, 5), b = randomMatrix(300, 100, 6);
    const packed = await matmulGpu(gpu.device, a, b, { config: { kernel: 'block8x8f16packed', wg: [8, 8] } });
    expectClose(packed, matmulReference(roundedToHalf(a), roundedToHalf(b)), 300);
    if (!gpu.device.features.has('shader-f16')) return ctx.skip();
    const native = await matmulGpu(gpu.device, a, b, { config: { kernel: 'block8x8f16', wg: [8, 8] } });
    expect(Array.from(native.data)).toEqual(Array.from(packed.data));
  });

  it('gives the same product when split over K into many dispatches, and counts them', async () => {
    const a = randomMatrix(40, 300, 1);
    const b = randomMatrix(300, 50, 2);
    const stats: MatmulStats = { dispatches: 0, maxDispatchMs: 0 };
    // Padded to 40×300·300×56: 4 k-steps cost 2·40·56·4 FLOPs, so 75 dispatches.
    const split = await matmulGpu(gpu.device, a, b, { dispatchFlopsMax: 2 * 40 * 56 * 4, stats });
    expect(stats.dispatches).toBe(75);
    expect(stats.maxDispatchMs).toBeGreaterThan(0);
    expectClose(split, matmulReference(a, b), 300);
  });

  it('leaves the JS thread idle while the GPU works: Dawn spins it while a GPU promise is pending, and on a CPU driver that core is the GPU\'s', async () => {
    // This thread's CPU time, from Linux's per-thread stat (utime + stime, in clock ticks of 10 ms).
    const cpuMs = () => {
      const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) * 10;
    };
    const a = randomMatrix(768, 768, 7);
    const options: MatmulOptions = { config: { kernel: 'block8x8', wg: [8, 8] }, dispatchFlopsMax: Infinity };
    await matmulGpu(gpu.device, a, a, options); // learns the pipeline's speed
    const [cpu0, wall0] = [cpuMs(), performance.now()];
    for (let i = 0; i < 2; i++) await matmulGpu(gpu.device, a, a, options);
    const share = (cpuMs() - cpu0) / (performance.now() - wall0);
    // Waiting on the promise alone: 0.58-0.64 of the time here; sleeping through 90% first: see the log.
    console.info(`[figures] JS thread busy ${share.toFixed(2)} of a Dawn product`);
    expect(share).toBeLessThan(0.3);
  });

  it('halves the dispatches after one that ran over twice the aim (calibration can be wrong)', async () => {
    // 2·256·256·8192 = 1.07 GFLOP on the naive kernel (0.2-0.35 GFLOP/s here): told it may do
    // half in one dispatch, the first runs 0.8-2.7 s, so the rest is split further. Left as
    // told: 2 dispatches.
    const [m, k, n] = [256, 8192, 256];
    const a = randomMatrix(m, k, 8), b = randomMatrix(k, n, 9);
    const stats: MatmulStats = { dispatches: 0, maxDispatchMs: 0 };
    const c = await matmulGpu(gpu.device, a, b, { config: matmulConfigNaive, dispatchFlopsMax: m * n * k, stats });
    expect(stats.maxDispatchMs).toBeGreaterThan(500);
    expect(stats.dispatches).toBeGreaterThanOrEqual(3);
    for (const [i, j] of [[0, 0], [255, 255], [100, 200], [200, 7]] as const) {
      let want = 0;
      for (let q = 0; q < k; q++) want += a.data[i * k + q]! * b.data[q * n + j]!;
      expect(c.data[i * n + j]).toBeCloseTo(want, 2);
    }
  });

  it('autotunes to a measured config and remembers it per adapter', async () => {
    const tuning = await autotuneMatmul(gpu.device, 128);
    expect(tuning.trials).toHaveLength(matmulCandidates.length); // SwiftShader has subgroups: every candidate runs
    expect(tuning.gflops).toBe(Math.max(...tuning.trials.map((t) => t.gflops)));
    process.env.SUPERNET_CACHE = mkdtempSync(join(tmpdir(), 'supernet-cache-'));
    const first = await tuningFor(gpu);
    expect(first.cached).toBe(false);
    const saved = JSON.parse(readFileSync(tuningFile(), 'utf8'));
    expect(Object.values(saved)).toEqual([first.tuning]);
    const second = await tuningFor(gpu);
    expect(second).toEqual({ tuning: first.tuning, cached: true });
  });
});
