import { runKernel, type RunOptions } from '../../shaders/runner.ts';
import { stageFlops, stageSizes, type Lut, type Stage } from './filters.ts';
import type { Frame } from './image.ts';
import code from './filters.wgsl?raw';

const wg = 8;

/** A frame through the chain on the GPU, a run of the one runner per stage; the last stage's floats. */
export async function filterFrameGpu(device: GPUDevice, frame: Frame, stages: Stage[], luts: Lut[], options: RunOptions = {}): Promise<Frame> {
  const sizes = stageSizes(frame.width, frame.height, stages);
  let image = frame;
  for (const [i, stage] of stages.entries()) {
    const [width, height] = sizes[i]!;
    const entryPoint = stage.type;
    const lut = stage.type === 'lut' ? luts[stage.input]! : null;
    const aux = stage.type === 'blurH' || stage.type === 'blurV' ? new Float32Array(stage.weights) : lut ? lut.table : new Float32Array(4);
    const [out] = await runKernel(
      device,
      {
        kernel: { label: `frames/${entryPoint}`, code, entryPoint, constants: { wgX: wg, wgY: wg } },
        inputs: [
          { label: 'src', data: image.rgba },
          { label: stage.type === 'lut' ? 'lut' : 'weights', data: aux },
        ],
        outputs: [{ label: 'dst', bytes: width * height * 16 }],
        groups: [Math.ceil(width / wg), Math.ceil(height / wg)],
        split: {
          length: height,
          step: wg,
          flopsPerStep: width * stageFlops(stage),
          uniforms(from, to) {
            const buffer = new ArrayBuffer(64);
            const taps = stage.type === 'blurH' || stage.type === 'blurV' ? stage.weights.length : 0;
            new Uint32Array(buffer, 0, 8).set([image.width, image.height, width, height, from, to, taps, lut?.size ?? 0]);
            if (lut) new Float32Array(buffer, 32, 8).set([...lut.domain[0], 0, ...lut.domain[1], 0]);
            return new Uint8Array(buffer);
          },
        },
      },
      options,
    );
    image = { width, height, rgba: new Float32Array(out!) };
  }
  return image;
}
