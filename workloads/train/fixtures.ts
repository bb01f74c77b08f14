import { mulberry32 } from '../../shaders/random.ts';
import type { Layer, Shape } from './model.ts';

/** `n` values uniform in [-1, 1) from a seed. */
export const uniform = (n: number, seed: number) => {
  const next = mulberry32(seed);
  return Float32Array.from({ length: n }, () => next() * 2 - 1);
};

/** The models the kernels are checked on: awkward sizes, ragged pools, a pool first. */
export const models: { name: string; input: Shape; layers: Layer[]; classes: number }[] = [
  { name: 'MLP 13-7-5', input: [13], layers: [{ type: 'dense', units: 7 }, { type: 'relu' }, { type: 'dense', units: 5 }], classes: 5 },
  { name: 'MLP 16-8-12-4 (sizes in fours: the vec4 kernels)', input: [16], layers: [{ type: 'dense', units: 8 }, { type: 'relu' }, { type: 'dense', units: 12 }, { type: 'relu' }, { type: 'dense', units: 4 }], classes: 4 },
  { name: 'CNN 2×9×7, conv 3×3, pool 2 (ragged)', input: [2, 9, 7], layers: [{ type: 'conv2d', filters: 3, kernel: 3 }, { type: 'relu' }, { type: 'maxpool', size: 2 }, { type: 'dense', units: 4 }], classes: 4 },
  { name: 'CNN 1×12×10, conv 6×4 (filters and columns past a block of 4)', input: [1, 12, 10], layers: [{ type: 'conv2d', filters: 6, kernel: 4 }, { type: 'conv2d', filters: 5, kernel: 2 }, { type: 'dense', units: 3 }], classes: 3 },
  { name: 'pool first, then conv 2×2', input: [1, 8, 8], layers: [{ type: 'maxpool', size: 2 }, { type: 'conv2d', filters: 2, kernel: 2 }, { type: 'relu' }, { type: 'dense', units: 6 }, { type: 'relu' }, { type: 'dense', units: 3 }], classes: 3 },
];
