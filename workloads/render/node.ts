import { encodeNpy } from '../../shaders/npy.ts';
import type { NodeKernel } from '../types.ts';
import { decodeCompiled } from './compiled.ts';
import { renderTileGpu } from './gpu.ts';
import { traceTile, type TileParams } from './trace.ts';

/** The tile's radiance sums as a float32 .npy of h rows and 3·w columns (RGB by pixel). */
const asNpy = (t: TileParams, sums: Float32Array) => encodeNpy({ rows: t.h, cols: 3 * t.w, data: sums });

/** render's node half: a tile × a batch of samples of the compiled scene (the unit's one input). */
export const renderNode: NodeKernel = {
  kind: 'render',

  async run(gpu, [scene], params) {
    if (!scene) throw new Error('a render unit needs its compiled scene');
    const t = params as unknown as TileParams;
    return asNpy(t, await renderTileGpu(gpu.device, decodeCompiled(scene), t, { dispatchFlopsMax: gpu.dispatchFlopsMax, ...(gpu.pacer ? { pacer: gpu.pacer } : {}) }));
  },

  describe(params) {
    const t = params as unknown as TileParams;
    return `a ${t.w}×${t.h} tile of a ${t.width}×${t.height} path-traced picture, samples ${t.s0 + 1}-${t.s1}`;
  },

  cpu([scene], params) {
    if (!scene) throw new Error('a render unit needs its compiled scene');
    const t = params as unknown as TileParams;
    return asNpy(t, traceTile(decodeCompiled(scene), t));
  },
};
