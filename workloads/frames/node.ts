import type { NodeKernel } from '../types.ts';
import { filterFrame, type Stage } from './filters.ts';
import { writeFrame } from './image.ts';
import { filterFrameGpu } from './gpu.ts';
import { unitInputs, type FrameParams } from './unit.ts';

const names: Record<Stage['type'], string> = { blurH: 'blur', blurV: '', sobel: 'sobel edges', lut: 'a colour LUT', resize: 'resize' };

/** frames' node half: one frame through the chain, returned as an 8-bit RGBA PNG. */
export const framesNode: NodeKernel = {
  kind: 'frames',

  async run(gpu, inputs, params) {
    const p = params as unknown as FrameParams;
    const { frame, luts } = unitInputs(p, inputs);
    return writeFrame(await filterFrameGpu(gpu.device, frame, p.stages, luts, { dispatchFlopsMax: gpu.dispatchFlopsMax, ...(gpu.pacer ? { pacer: gpu.pacer } : {}) }));
  },

  describe(params) {
    const p = params as unknown as FrameParams;
    return `frame ${p.index + 1} (${p.width}×${p.height}) of a video through ${p.stages.map((s) => names[s.type]).filter(Boolean).join(' → ')}`;
  },

  cpu(inputs, params) {
    const p = params as unknown as FrameParams;
    const { frame, luts } = unitInputs(p, inputs);
    return writeFrame(filterFrame(frame, p.stages, luts));
  },
};
