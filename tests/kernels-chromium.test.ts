import { afterAll, beforeAll, describe, it } from 'vitest';
import { openBenchPage, type BenchPage } from '../bench/chromium.ts';
import { randomMatrix } from '../server/workloads/random.ts';
import { matmulCandidates, matmulConfigNaive } from '../shaders/matmul/index.ts';
import { matmulReference } from '../shaders/matmul/reference.ts';
import { expectClose } from './helpers/matrices.ts';
import { awkwardShapes } from './helpers/shapes.ts';

let bench: BenchPage;
beforeAll(async () => {
  bench = await openBenchPage();
}, 120_000);
afterAll(() => bench?.close());

describe('matmul kernels in Chromium (WebGPU on SwiftShader)', () => {
  for (const config of [matmulConfigNaive, ...matmulCandidates]) {
    it(`${config.kernel} ${config.wg.join('×')} matches the CPU reference on awkward shapes`, async () => {
      for (const [m, k, n] of awkwardShapes) {
        const [seedA, seedB] = [m * 31 + k, n * 17 + k];
        const base64 = await bench.page.evaluate(([m, k, n, seedA, seedB, config]) => window.supernetBench.matmul(m, k, n, seedA, seedB, config), [m, k, n, seedA, seedB, config] as const);
        const bytes = Buffer.from(base64, 'base64');
        const got = { rows: m, cols: n, data: new Float32Array(bytes.buffer, bytes.byteOffset, m * n) };
        expectClose(got, matmulReference(randomMatrix(m, k, seedA), randomMatrix(k, n, seedB)), k);
      }
    });
  }
});
