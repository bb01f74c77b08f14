import { afterAll, beforeAll, describe, it } from 'vitest';
import { openBenchPage, type BenchPage } from '../../bench/chromium.ts';
import { randomMatrix } from './random.ts';
import { matmulCandidates, matmulConfigNaive, matmulKernels, type MatmulConfig } from './gpu.ts';
import { matmulReference } from './reference.ts';
import { roundedToHalf, type Matrix } from '../../shaders/npy.ts';
import { expectClose } from '../../tests/helpers/matrices.ts';
import { awkwardShapes } from '../../tests/helpers/shapes.ts';

let bench: BenchPage;
beforeAll(async () => {
  bench = await openBenchPage();
}, 120_000);
afterAll(() => bench?.close());

describe('matmul kernels in Chromium (WebGPU on SwiftShader)', () => {
  // The f16 kernels read A and B as float16: their oracle multiplies the rounded inputs.
  const f16: MatmulConfig[] = [
    { kernel: 'block8x8f16packed', wg: [8, 8] },
    { kernel: 'swap16x8f16packed', wg: [64, 1] },
    { kernel: 'swap12x8f16packed', wg: [64, 1] },
  ];
  for (const config of [matmulConfigNaive, ...matmulCandidates, ...f16]) {
    it(`${config.kernel} ${config.wg.join('×')} matches the CPU reference on awkward shapes`, async () => {
      const input = matmulKernels[config.kernel].input === 'f16' ? roundedToHalf : (x: Matrix) => x;
      for (const [m, k, n] of awkwardShapes) {
        const [seedA, seedB] = [m * 31 + k, n * 17 + k];
        const base64 = await bench.page.evaluate(([m, k, n, seedA, seedB, config]) => window.supernetBench.matmul(m, k, n, seedA, seedB, config), [m, k, n, seedA, seedB, config] as const);
        const bytes = Buffer.from(base64, 'base64');
        const got = { rows: m, cols: n, data: new Float32Array(bytes.buffer, bytes.byteOffset, m * n) };
        expectClose(got, matmulReference(input(randomMatrix(m, k, seedA)), input(randomMatrix(k, n, seedB))), k);
      }
    });
  }
});
