import { randomInt } from 'node:crypto';
import { encode as encodePng } from 'fast-png';
import { z } from 'zod';
import { NpyError, parseNpy, encodeNpy } from '../../shaders/npy.ts';
import { badRequest } from '../../server/errors.ts';
import type { Workload } from '../types.ts';
import { compileScene, decodeCompiled, encodeCompiled } from './compiled.ts';
import { sampleFlops } from './gpu.ts';
import { MeshError, withMeshes } from './meshes.ts';
import { builtinScenes, sceneProblem, sceneSchema, type Scene } from './scene.ts';
import { tracePixel, type TileParams } from './trace.ts';

/**
 * render: a path-traced image of a scene (workloads/render/scene.ts), cut into tiles × batches
 * of samples; a unit returns its tile's radiance sums over its samples (trace.ts). The job's
 * result is a PNG (tone-mapped: clamped to [0, 1], sRGB-encoded), or the linear radiance as a
 * float32 .npy of `height` rows and 3·`width` columns (`output: "npy"`).
 */
const unitsMax = 20_000;

export const renderSpec = z
  .object({
    scene: z.union([z.string().min(1).max(64), sceneSchema]).describe(`a built-in scene's name (${Object.keys(builtinScenes).join(', ')}) or a scene`),
    width: z.number().int().min(8).max(4096),
    height: z.number().int().min(8).max(4096),
    spp: z.number().int().min(1).max(4096).describe('samples per pixel'),
    tile: z.number().int().min(8).max(256).default(64).describe('tile side in pixels'),
    samplesPerUnit: z.number().int().min(1).max(4096).optional().describe('samples of a tile per unit (default: all of them, at most 16)'),
    seed: z.number().int().min(0).max(2 ** 32 - 1).default(1),
    output: z.enum(['png', 'npy']).default('png'),
  })
  .strict();
export type RenderSpec = z.infer<typeof renderSpec>;

interface Plan {
  width: number;
  height: number;
  spp: number;
  tile: number;
  batches: number;
  output: 'png' | 'npy';
}

/**
 * The check of one tile in one execution. Every pixel's samples come from streams seeded by
 * (job, pixel, sample), so a tile is a function of its inputs up to floating point: the
 * coordinator re-traces `checkedPixels` distinct pixels of it chosen at random (crypto-grade),
 * and as many more distinct ones among the pixels the result says are lit, on the CPU
 * (trace.ts), and compares.
 *
 * Agreement of a pixel: every channel's sum within 10⁻³ relative (of max(1, |sum|)). Honest
 * float32 on a GPU against float64 here differs by ~10⁻⁶ per operation, ~10⁻⁵ over a path of
 * eight bounces: a hundredfold margin. But a ray that grazes an edge may take another path on
 * another GPU (WGSL may fuse and reorder), and then that sample — and so that pixel — differs
 * wholly. Measured on SwiftShader under Dawn: no pixel of 286 parted (workloads/render/kernel.test.ts);
 * Chromium's parts a few (an honest tab's tile of the spheres scene was once refused in CI, two of
 * ~30 picks parted). So a few parted pixels are tolerated: one in sixteen of those checked, and a
 * tile that fails that is looked at again, at four times the picks drawn afresh, and passes if one
 * in 32 of those or fewer parted. An honest tile with rare parted pixels passes the second look;
 * a lie of fewer samples, of another tile or of noise parts in a fifth or more of its lit pixels
 * and fails both. The second look costs only where the first failed.
 *
 * Why lit pixels, and as many: a lie of fewer samples differs only where the samples left out
 * found light. In a Cornell box without next-event estimation most samples find none: in the
 * test's 8×8 tile, dropping 2 of 6 samples changes 13 pixels of 64, all of them lit (21 are).
 * Random picks alone would often miss them (one check in ten passed such a lie when the lit
 * picks were eight, drawn with repeats, and one in eight might part); sixteen distinct lit picks
 * take in at least 8 of those 13 there.
 *
 * What is refused: a tile of noise (every pixel parts), fewer samples (every lit pixel's sum
 * falls; the lit picks make sure lit pixels are checked), a shifted or copied tile and a tile of
 * another scene (another pixel's streams give another sum wherever the picture is not flat). A
 * liar's tile passes only where it is right but for at most one pixel in sixteen of those
 * checked (one in 32 at the second look) — and in a flat region, where a copy is the same picture.
 */
export const checkedPixels = 16;
const agreeRelative = 1e-3;

const pixelAgrees = (x: ArrayLike<number>, xi: number, y: ArrayLike<number>, yi: number) => {
  for (let k = 0; k < 3; k++) if (!(Math.abs(x[xi + k]! - y[yi + k]!) <= agreeRelative * Math.max(1, Math.abs(y[yi + k]!)))) return false;
  return true;
};

function resolveScene(spec: RenderSpec): Scene {
  if (typeof spec.scene !== 'string') return spec.scene;
  const make = builtinScenes[spec.scene];
  if (!make) throw badRequest(`spec.scene: no built-in scene is named "${spec.scene}" (there are ${Object.keys(builtinScenes).join(', ')}); or give a scene.`, 'bad_scene');
  return make();
}

function sums(bytes: Uint8Array): Float32Array {
  return parseNpy(bytes).data;
}

const tiles = (size: number, step: number) => Array.from({ length: Math.ceil(size / step) }, (_, i) => [i * step, Math.min(size, (i + 1) * step)] as const);

export const render: Workload<RenderSpec> = {
  kind: 'render',
  description: 'A path-traced image (spheres, planes, triangles and OBJ or .glb meshes; diffuse, metal, glass and emissive materials; a pinhole or thin-lens camera) of a built-in scene or your own, in tiles × batches of samples, each tile checked by re-tracing sampled pixels. The result is a PNG, or linear radiance as a float32 .npy (output "npy").',
  specSchema: renderSpec,
  examples: [
    { scene: 'cornell', width: 64, height: 64, spp: 8, tile: 32, seed: 1, output: 'png' },
    { scene: 'spheres', width: 96, height: 64, spp: 8, tile: 32, samplesPerUnit: 4, seed: 1, output: 'png' },
  ],

  async shard(spec, blobs, accountId) {
    const problem = sceneProblem(resolveScene(spec));
    if (problem) throw badRequest(`spec.scene: ${problem}.`, 'bad_scene');
    const scene = await withMeshes(resolveScene(spec), async (sha256) => ((await blobs.has(sha256)) ? blobs.read(sha256) : null)).catch((err) => {
      throw err instanceof MeshError ? badRequest(`spec.scene.${err.message}.`, 'bad_mesh') : err;
    });
    const perUnit = Math.min(spec.samplesPerUnit ?? Math.min(spec.spp, 16), spec.spp);
    const batches = tiles(spec.spp, perUnit);
    const rows = tiles(spec.height, spec.tile), cols = tiles(spec.width, spec.tile);
    if (rows.length * cols.length * batches.length > unitsMax) throw badRequest(`That makes over ${unitsMax} units: choose a larger spec.tile or spec.samplesPerUnit.`);
    const { sha256 } = await blobs.put(encodeCompiled(compileScene(scene)), accountId);
    // Batch by batch, each a whole picture of tiles in row-major order (the job page's grid).
    const units = batches.flatMap(([s0, s1]) =>
      rows.flatMap(([y0, y1]) =>
        cols.map(([x0, x1]) => {
          const params: TileParams = { width: spec.width, height: spec.height, x0, y0, w: x1 - x0, h: y1 - y0, s0, s1, seed: spec.seed };
          return { params: { ...params }, inputs: [sha256], flops: params.w * params.h * (s1 - s0) * sampleFlops };
        }),
      ),
    );
    const plan: Plan = { width: spec.width, height: spec.height, spp: spec.spp, tile: spec.tile, batches: batches.length, output: spec.output };
    return { plan: { ...plan }, units, flops: spec.width * spec.height * spec.spp * sampleFlops };
  },

  malformed(params, result) {
    const t = params as unknown as TileParams;
    try {
      const m = parseNpy(result);
      if (m.dtype === 'f2') return 'the result is float16; radiance sums are float32';
      if (m.rows !== t.h || m.cols !== 3 * t.w) return `the result is ${m.rows}×${m.cols}, the unit asked for ${t.h}×${3 * t.w} (RGB sums of a ${t.w}×${t.h} tile)`;
      for (const v of m.data) if (!(v >= 0 && v < Infinity)) return 'the result holds a negative, infinite or NaN radiance';
      return null;
    } catch (err) {
      if (err instanceof NpyError) return `the result is not a float32 .npy (${err.message})`;
      throw err;
    }
  },

  checkOffThread: true,

  check(params, [scene], result) {
    const t = params as unknown as TileParams;
    const compiled = decodeCompiled(scene!);
    const got = sums(result);
    const count = t.w * t.h;
    const lit = [];
    for (let i = 0; i < count; i++) if (got[3 * i]! + got[3 * i + 1]! + got[3 * i + 2]! > 0) lit.push(i);
    const all = Array.from({ length: count }, (_, i) => i);
    const partedAmong = (picks: Set<number>) => {
      let parted = 0;
      for (const i of picks) if (!pixelAgrees(got, 3 * i, tracePixel(compiled, t, t.x0 + (i % t.w), t.y0 + Math.floor(i / t.w)), 0)) parted++;
      return parted;
    };
    const picks = new Set([...distinct(all, checkedPixels), ...distinct(lit, checkedPixels)]);
    if (partedAmong(picks) <= Math.floor(picks.size / 16)) return true;
    // A second look before a verdict against the node, at four times the picks, drawn afresh.
    const more = new Set([...distinct(all, 4 * checkedPixels), ...distinct(lit, 4 * checkedPixels)]);
    return partedAmong(more) <= Math.floor(more.size / 32);
  },

  agree(_params, x, y) {
    const a = sums(x), b = sums(y);
    if (a.length !== b.length) return false;
    let parted = 0;
    for (let i = 0; i < a.length; i += 3) if (!pixelAgrees(a, i, b, i)) parted++;
    return parted <= Math.floor(a.length / 3 / 16);
  },

  grid(plan) {
    const { width, height, tile, batches } = plan as unknown as Plan;
    return { rows: Math.ceil(height / tile), cols: Math.ceil(width / tile), layers: batches };
  },

  // Each pixel over the samples verified for it so far: the picture sharpens batch by batch.
  preview(plan, units) {
    const { width, height } = plan as unknown as Plan;
    const { image, samples } = accumulate(width, height, units);
    for (let i = 0; i < image.length; i++) image[i]! /= Math.max(1, samples[Math.floor(i / 3)]!);
    return encodePng({ width, height, data: toSrgb8(image), channels: 3, depth: 8 });
  },

  assemble(plan, units) {
    const { width, height, spp, output } = plan as unknown as Plan;
    const { image } = accumulate(width, height, units);
    for (let i = 0; i < image.length; i++) image[i]! /= spp;
    if (output === 'npy') return { bytes: encodeNpy({ rows: height, cols: 3 * width, data: image }), contentType: 'application/octet-stream', extension: 'npy' };
    return { bytes: encodePng({ width, height, data: toSrgb8(image), channels: 3, depth: 8 }), contentType: 'image/png', extension: 'png' };
  },
};

/** `n` of `items` drawn at random without repeats (crypto-grade; a partial Fisher-Yates shuffle). */
function distinct<T>(items: T[], n: number): T[] {
  const pool = [...items];
  const k = Math.min(n, pool.length);
  for (let i = 0; i < k; i++) {
    const j = i + randomInt(pool.length - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, k);
}

/** The tiles' radiance sums added up into the picture, with the samples each pixel got. */
function accumulate(width: number, height: number, units: { params: Record<string, unknown>; result: Uint8Array }[]) {
  const image = new Float32Array(width * height * 3);
  const samples = new Uint32Array(width * height);
  for (const unit of units) {
    const t = unit.params as unknown as TileParams;
    const tile = sums(unit.result);
    for (let y = 0; y < t.h; y++) {
      const row = (t.y0 + y) * width + t.x0;
      for (let x = 0; x < t.w * 3; x++) image[row * 3 + x]! += tile[y * t.w * 3 + x]!;
      for (let x = 0; x < t.w; x++) samples[row + x]! += t.s1 - t.s0;
    }
  }
  return { image, samples };
}

/** Linear radiance to 8-bit sRGB, clamped to [0, 1] first. */
export function toSrgb8(linear: Float32Array): Uint8Array {
  const out = new Uint8Array(linear.length);
  for (let i = 0; i < linear.length; i++) {
    const c = Math.min(1, Math.max(0, linear[i]!));
    out[i] = Math.round(255 * (c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055));
  }
  return out;
}
