import { encodeNpy, parseNpy } from '../../shaders/npy.ts';
import type { NodeKernel } from '../types.ts';
import { matmulGpu } from './gpu.ts';
import { matmulReference } from './reference.ts';

/** matmul's node half: C = A·B of the unit's two panels, on the GPU or in JavaScript. */
export const matmulNode: NodeKernel = {
  kind: 'matmul',

  async run(gpu, [a, b]) {
    if (!a || !b) throw new Error('a matmul unit needs two inputs: the A panel and the B panel');
    const [ma, mb] = [parseNpy(a), parseNpy(b)];
    // Float16 panels (a job of precision f16) go to the f16 kernel; its sums are float32 too.
    const precision = ma.dtype === 'f2' && mb.dtype === 'f2' ? 'f16' : 'f32';
    const c = await matmulGpu(gpu.device, ma, mb, { config: gpu.matmul, precision, dispatchFlopsMax: gpu.dispatchFlopsMax, pacer: gpu.pacer });
    return encodeNpy(c);
  },

  describe(params) {
    const { rows, cols, k } = params as { rows: number; cols: number; k: number };
    return `a ${rows}×${cols} tile of a matrix product (${k} deep)`;
  },

  cpu([a, b]) {
    if (!a || !b) throw new Error('a matmul unit needs two inputs: the A panel and the B panel');
    return encodeNpy(matmulReference(parseNpy(a), parseNpy(b)));
  },
};
