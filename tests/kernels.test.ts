import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matmulGpu } from '../shaders/matmul/index.ts';
import { matmulReference } from '../shaders/matmul/reference.ts';
import { openDawnDevice } from '../server/agent/dawn.ts';
import { randomMatrix } from '../server/workloads/random.ts';
import { expectClose } from './helpers/matrices.ts';

let device: GPUDevice;
beforeAll(async () => {
  ({ device } = await openDawnDevice());
});
afterAll(() => device?.destroy());

describe('matmul kernel on Dawn (SwiftShader)', () => {
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [7, 13, 5],
    [1000, 3, 1000],
    [33, 65, 17],
    [128, 256, 96],
  ];
  for (const [m, k, n] of shapes) {
    it(`matches the CPU reference for ${m}×${k}·${k}×${n}`, async () => {
      const a = randomMatrix(m, k, m * 31 + k);
      const b = randomMatrix(k, n, n * 17 + k);
      const got = await matmulGpu(device, a, b);
      expectClose(got, matmulReference(a, b), k);
    });
  }

  it('gives the same product when the work is split over K into many dispatches', async () => {
    const a = randomMatrix(40, 300, 1);
    const b = randomMatrix(300, 50, 2);
    const whole = await matmulGpu(device, a, b);
    const split = await matmulGpu(device, a, b, { dispatchFlopsMax: 2 * 40 * 50 * 7 }); // 43 dispatches of K=7
    expectClose(split, whole, 300);
    expectClose(split, matmulReference(a, b), 300);
  });
});
