import { runKernel, type RunOptions } from '../../shaders/runner.ts';
import type { Compiled } from './compiled.ts';
import type { TileParams } from './trace.ts';
import code from './trace.wgsl?raw';

/**
 * Work one sample of one pixel stands for in the dispatch budget and in pay: a nominal 20,000
 * FLOPs (8 bounces, each some dozens of box and shape tests of ~30 operations). A nominal
 * figure, like a FLOP count, only has to be the same for every node.
 */
export const sampleFlops = 20_000;
const wg = 8;

/** A tile's radiance sums on the GPU (the layout traceTile returns), through the one runner. */
export async function renderTileGpu(device: GPUDevice, scene: Compiled, t: TileParams, options: RunOptions = {}): Promise<Float32Array> {
  const [sums] = await runKernel(
    device,
    {
      kernel: { label: `render/trace/${wg}x${wg}`, code, constants: { wgX: wg, wgY: wg } },
      inputs: [
        { label: 'materials', data: scene.materials },
        { label: 'spheres', data: scene.spheres },
        { label: 'planes', data: scene.planes },
        { label: 'triangles', data: scene.triangles },
        { label: 'nodes', data: scene.nodes },
      ],
      outputs: [{ label: 'sums', bytes: t.w * t.h * 3 * 4 }],
      groups: [Math.ceil(t.w / wg), Math.ceil(t.h / wg)],
      split: {
        length: t.s1 - t.s0,
        step: 1,
        flopsPerStep: t.w * t.h * sampleFlops,
        uniforms(from, to) {
          const buffer = new ArrayBuffer(128);
          new Uint32Array(buffer, 0, 12).set([t.width, t.height, t.x0, t.y0, t.w, t.h, t.seed >>> 0, t.s0 + from, t.s0 + to, scene.spheres.length / 8, scene.planes.length / 8, scene.nodes.length / 8]);
          const f = new Float32Array(buffer, 48, 20);
          f.set(scene.camera);
          f.set(scene.background, 16);
          return new Uint8Array(buffer);
        },
      },
    },
    options,
  );
  return new Float32Array(sums!);
}
