import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDawnDevice, type DawnDevice } from '../../server/agent/dawn.ts';
import { endless, mandelbrot, mandelbrotReference, mandelbrotSize, saxpy } from './examples.ts';
import { checkKernel, elementCost, instrument } from './kernel.ts';
import { wgslNode } from './node.ts';
import type { WgslParams } from './unit.ts';

let gpu: DawnDevice;
beforeAll(async () => {
  gpu = await openDawnDevice();
});
afterAll(() => gpu?.device.destroy());

const context = () => ({ device: gpu.device, matmul: { kernel: 'naive', wg: [8, 8] }, dispatchFlopsMax: 64e6 }) as never;
const text = (s: string) => new TextEncoder().encode(s);

function unit(source: string, inputs: number, first: number, count: number, loopBudget: number, element: WgslParams['element'], flopsPerElement = 100): WgslParams {
  const { shape } = checkKernel(source, 'main', Array(inputs).fill('f32'), element);
  return { first, count, entryPoint: 'main', workgroupSize: shape!.workgroupSize, cost: elementCost(flopsPerElement, loopBudget, shape!.hasLoops), loopBudget, element, tolerance: 1e-5 };
}

describe('wgsl units on Dawn (SwiftShader)', () => {
  it('runs a unit of the instrumented kernel over its range, split into dispatches', async () => {
    const x = Float32Array.from({ length: 5000 }, (_, i) => i / 3), y = Float32Array.from({ length: 5000 }, (_, i) => 1 - i);
    const p = unit(saxpy, 2, 1000, 3000, 1000, 'f32', 2e4); // 3000 × 20,000 FLOPs: 1 dispatch in 64 MFLOP … several
    const out = new Float32Array((await wgslNode.run(context(), [text(instrument(saxpy, 'main', 2, 1000)), new Uint8Array(x.buffer), new Uint8Array(y.buffer)], { ...p })).buffer);
    expect(out).toHaveLength(3000);
    out.forEach((v, i) => expect(v).toBeCloseTo(2.5 * x[1000 + i]! + y[1000 + i]!, 3));
  });

  it('cuts off a loop that never ends with a clear reason, and the device goes on to the next unit', async () => {
    const code = text(instrument(endless, 'main', 0, 5000));
    // The first 100 elements end their loop; the rest would spin for ever.
    await expect(wgslNode.run(context(), [code], { ...unit(endless, 0, 0, 100, 5000, 'u32') })).resolves.toHaveLength(400);
    await expect(wgslNode.run(context(), [code], { ...unit(endless, 0, 100, 100, 5000, 'u32') })).rejects.toThrow('the kernel ran past its loop budget (5000 iterations an invocation, all loops together) and was cut off');
    const { width, height } = mandelbrotSize;
    const counts = new Uint32Array((await wgslNode.run(context(), [text(instrument(mandelbrot, 'main', 0, 1000))], { ...unit(mandelbrot, 0, 0, width * height, 1000, 'u32') })).buffer);
    const want = mandelbrotReference();
    expect(counts.filter((c, i) => c !== want[i]).length / want.length).toBeLessThan(0.01);
  });
});
