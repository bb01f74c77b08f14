import { z } from 'zod';
import type { Frame } from './image.ts';

/**
 * The filters a frames job chains, as a developer writes them and as both the WGSL kernels
 * (filters.wgsl) and this CPU reference compute them. Every stage reads RGBA floats and writes
 * RGBA floats; only the last is rounded to 8 bits. Coordinates outside a frame clamp to its edge.
 *
 *   blur    gaussian of `sigma` pixels, separable: a horizontal then a vertical pass of
 *           2·ceil(3σ)+1 taps, weights normalised to sum 1 (computed here, rounded to float32,
 *           and handed to the GPU as they are).
 *   sobel   edges: luminance Y = 0.2126 R + 0.7152 G + 0.0722 B (of the input clamped to
 *           [0, 1]), gradient by the 3×3 Sobel kernels, magnitude / 4 as grey; alpha kept.
 *   lut     colour grading by a 3D LUT (.cube file): the input clamped to the LUT's domain,
 *           trilinear between its entries (red fastest, as .cube orders them); alpha kept.
 *   resize  to `width` × `height` by bilinear interpolation between pixel centres.
 */
export const filterSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('blur'), sigma: z.number().min(0.3).max(20).describe('standard deviation in pixels') }).strict(),
  z.object({ type: z.literal('sobel') }).strict(),
  z.object({ type: z.literal('lut'), lut: z.string().regex(/^[0-9a-f]{64}$/, 'the sha256 of the uploaded .cube file (PUT /api/blobs)'), file: z.string().max(256).optional().describe("the .cube file's name, for messages") }).strict(),
  z.object({ type: z.literal('resize'), width: z.number().int().min(1).max(4096), height: z.number().int().min(1).max(4096) }).strict(),
]);
export type Filter = z.infer<typeof filterSchema>;

/** A filter as a unit runs it: blur's weights worked out, a LUT by the unit's input it is. */
export type Stage =
  | { type: 'blurH' | 'blurV'; weights: number[] }
  | { type: 'sobel' }
  | { type: 'lut'; input: number; size: number; domain: [number[], number[]] }
  | { type: 'resize'; width: number; height: number };

/** Nominal work of an output pixel of each stage, for pay and the dispatch budget (as a FLOP count is nominal). */
export const stageFlops = (s: Stage) => (s.type === 'blurH' || s.type === 'blurV' ? 8 * s.weights.length : s.type === 'sobel' ? 40 : s.type === 'lut' ? 80 : 30);

/** Gaussian weights of 2·ceil(3σ)+1 taps, summing to 1, rounded to float32 (what the GPU gets). */
export function gaussian(sigma: number): number[] {
  const r = Math.ceil(3 * sigma);
  const w = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((v) => Math.fround(v / sum));
}

/** A parsed LUT: `size`³ RGB entries, red fastest, as float32. */
export interface Lut {
  size: number;
  domain: [number[], number[]];
  table: Float32Array;
}

/** The size of each stage's output, from the frame's. */
export function stageSizes(width: number, height: number, stages: Stage[]): [number, number][] {
  const sizes: [number, number][] = [];
  for (const s of stages) {
    if (s.type === 'resize') [width, height] = [s.width, s.height];
    sizes.push([width, height]);
  }
  return sizes;
}

/**
 * An image a stage reads, pixel by pixel. `at` fills `out` with the RGBA at (x, y) of an
 * in-range pixel; each stage remembers what it worked out, so checking a few pixels of a
 * frame costs only their neighbourhoods and a whole frame costs each stage once.
 */
interface Sampler {
  width: number;
  height: number;
  at(x: number, y: number): Float64Array;
}

function remembered(width: number, height: number, dense: boolean, compute: (x: number, y: number, out: Float64Array) => void): Sampler {
  if (dense) {
    const values = new Float64Array(width * height * 4);
    const known = new Uint8Array(width * height);
    return {
      width,
      height,
      at(x, y) {
        const i = y * width + x;
        const view = values.subarray(i * 4, i * 4 + 4);
        if (!known[i]) {
          compute(x, y, view);
          known[i] = 1;
        }
        return view;
      },
    };
  }
  const values = new Map<number, Float64Array>();
  return {
    width,
    height,
    at(x, y) {
      const i = y * width + x;
      let v = values.get(i);
      if (!v) {
        v = new Float64Array(4);
        compute(x, y, v);
        values.set(i, v);
      }
      return v;
    },
  };
}

const clampTo = (v: number, n: number) => (v < 0 ? 0 : v >= n ? n - 1 : v);
const unit = (v: number) => Math.min(1, Math.max(0, v));

function stageSampler(src: Sampler, stage: Stage, luts: Lut[], dense: boolean): Sampler {
  const { width, height } = src;
  switch (stage.type) {
    case 'blurH':
    case 'blurV': {
      const r = (stage.weights.length - 1) / 2;
      const horizontal = stage.type === 'blurH';
      return remembered(width, height, dense, (x, y, out) => {
        out.fill(0);
        for (let i = -r; i <= r; i++) {
          const p = horizontal ? src.at(clampTo(x + i, width), y) : src.at(x, clampTo(y + i, height));
          const w = stage.weights[i + r]!;
          for (let k = 0; k < 4; k++) out[k]! += w * p[k]!;
        }
      });
    }
    case 'sobel': {
      const luma = (x: number, y: number) => {
        const p = src.at(clampTo(x, width), clampTo(y, height));
        return 0.2126 * unit(p[0]!) + 0.7152 * unit(p[1]!) + 0.0722 * unit(p[2]!);
      };
      return remembered(width, height, dense, (x, y, out) => {
        const gx = luma(x + 1, y - 1) + 2 * luma(x + 1, y) + luma(x + 1, y + 1) - luma(x - 1, y - 1) - 2 * luma(x - 1, y) - luma(x - 1, y + 1);
        const gy = luma(x - 1, y + 1) + 2 * luma(x, y + 1) + luma(x + 1, y + 1) - luma(x - 1, y - 1) - 2 * luma(x, y - 1) - luma(x + 1, y - 1);
        const m = Math.sqrt(gx * gx + gy * gy) / 4;
        out.set([m, m, m, src.at(x, y)[3]!]);
      });
    }
    case 'lut': {
      const lut = luts[stage.input]!;
      const n = lut.size;
      const [lo, hi] = lut.domain;
      return remembered(width, height, dense, (x, y, out) => {
        const p = src.at(x, y);
        const c = [0, 1, 2].map((k) => unit((p[k]! - lo[k]!) / (hi[k]! - lo[k]!)) * (n - 1));
        const i0 = c.map((v) => Math.min(n - 2, Math.floor(v)));
        const f = c.map((v, k) => v - i0[k]!);
        out.fill(0);
        for (let corner = 0; corner < 8; corner++) {
          const d = [corner & 1, (corner >> 1) & 1, (corner >> 2) & 1];
          const w = d.reduce((acc, bit, k) => acc * (bit ? f[k]! : 1 - f[k]!), 1);
          const e = ((i0[2]! + d[2]!) * n * n + (i0[1]! + d[1]!) * n + i0[0]! + d[0]!) * 3;
          for (let k = 0; k < 3; k++) out[k]! += w * lut.table[e + k]!;
        }
        out[3] = p[3]!;
      });
    }
    case 'resize': {
      const [sx, sy] = [width / stage.width, height / stage.height];
      return remembered(stage.width, stage.height, dense, (x, y, out) => {
        const fx = Math.min(width - 1, Math.max(0, (x + 0.5) * sx - 0.5)), fy = Math.min(height - 1, Math.max(0, (y + 0.5) * sy - 0.5));
        const [x0, y0] = [Math.floor(fx), Math.floor(fy)];
        const [x1, y1] = [Math.min(width - 1, x0 + 1), Math.min(height - 1, y0 + 1)];
        const [ax, ay] = [fx - x0, fy - y0];
        const [p00, p10, p01, p11] = [src.at(x0, y0), src.at(x1, y0), src.at(x0, y1), src.at(x1, y1)];
        for (let k = 0; k < 4; k++) out[k] = (1 - ay) * ((1 - ax) * p00[k]! + ax * p10[k]!) + ay * ((1 - ax) * p01[k]! + ax * p11[k]!);
      });
    }
  }
}

/** The chain over a frame, as a sampler of its output: `dense` to compute all of it, sparse to check a few pixels. */
export function chain(frame: Frame, stages: Stage[], luts: Lut[], dense: boolean): Sampler {
  let s: Sampler = { width: frame.width, height: frame.height, at: (x, y) => Float64Array.from(frame.rgba.subarray((y * frame.width + x) * 4, (y * frame.width + x) * 4 + 4)) };
  for (const stage of stages) s = stageSampler(s, stage, luts, dense);
  return s;
}

/** The whole output frame on the CPU (a node without WebGPU; tests' reference). */
export function filterFrame(frame: Frame, stages: Stage[], luts: Lut[]): Frame {
  const out = chain(frame, stages, luts, true);
  const rgba = new Float32Array(out.width * out.height * 4);
  for (let y = 0; y < out.height; y++) for (let x = 0; x < out.width; x++) rgba.set(out.at(x, y), (y * out.width + x) * 4);
  return { width: out.width, height: out.height, rgba };
}
