import { randomInt } from 'node:crypto';
import { decode as decodePng, encode as encodePng } from 'fast-png';
import { unzipSync, zipSync } from 'fflate';
import { z } from 'zod';
import { encodeNpy } from '../../shaders/npy.ts';
import { badRequest } from '../../server/errors.ts';
import type { Workload } from '../types.ts';
import { chain, filterSchema, gaussian, stageFlops, stageSizes, type Lut, type Stage } from './filters.ts';
import { FrameError, level, readFrame, type Frame } from './image.ts';
import { LutError, readCube } from './lut.ts';
import { unitInputs, type FrameParams } from './unit.ts';

/**
 * frames: a sequence of video frames (a zip of PNGs) through a chain of filters (filters.ts),
 * a unit per frame; the result a zip of the filtered frames as 8-bit RGBA PNGs, named as they
 * came. A unit's inputs are its frame's PNG and the chain's LUTs (float32 .npy, n³ × 3).
 */
export const framesSpec = z
  .object({
    frames: z.string().regex(/^[0-9a-f]{64}$/, 'the sha256 of the uploaded zip of PNG frames (PUT /api/blobs)'),
    file: z.string().max(256).optional().describe("the zip's name, for messages"),
    filters: z.array(filterSchema).min(1).max(8).describe('applied in order: blur, sobel, lut (a .cube file), resize'),
  })
  .strict();
export type FramesSpec = z.infer<typeof framesSpec>;

interface Plan {
  count: number;
  names: string[];
}

const framesMax = 2000;
/**
 * The check of one frame in one execution: the coordinator recomputes `checkedPixels` output
 * pixels chosen at random (crypto-grade) with the CPU reference, each from only the
 * neighbourhood it depends on, and accepts when every channel of every one is within one 8-bit
 * level. The filters are arithmetic without branches that could part (unlike a path tracer's
 * rays): float32 on a GPU against float64 here differs by ~10⁻⁶, so a level either way covers
 * rounding at a level's edge, and a pixel off by more is a wrong pixel. A frame of noise,
 * another frame, the wrong filter or a shifted frame fails wherever the picture is not flat.
 */
export const checkedPixels = 48;
const levelsApart = 1;

/** The PNG entries of a zip, in natural order (frame_2 before frame_10); 400s naming the file. */
function framesOf(zip: Uint8Array, where: string): [string, Uint8Array][] {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(zip);
  } catch (err) {
    throw badRequest(`${where}: it is not a zip file (${err instanceof Error ? err.message : String(err)}).`, 'bad_frames');
  }
  const entries = Object.entries(files).filter(([name]) => !name.endsWith('/') && !name.startsWith('__MACOSX/') && !name.split('/').pop()!.startsWith('.'));
  const other = entries.find(([name]) => !/\.png$/i.test(name));
  if (other) throw badRequest(`${where}: ${other[0]} is not a .png frame: the zip holds PNG frames only.`, 'bad_frames');
  if (!entries.length) throw badRequest(`${where}: the zip holds no .png frames.`, 'bad_frames');
  if (entries.length > framesMax) throw badRequest(`${where}: ${entries.length} frames; a job takes at most ${framesMax}.`, 'bad_frames');
  return entries.sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }));
}

const decodeResult = (bytes: Uint8Array) => decodePng(bytes);

/** An output PNG's 8-bit RGBA (what the node wrote with writeFrame). */
function rgba8(bytes: Uint8Array): Uint8Array | null {
  try {
    const png = decodeResult(bytes);
    return png.channels === 4 && png.depth === 8 ? (png.data as Uint8Array) : null;
  } catch {
    return null;
  }
}

const thumb = 96;

export const frames: Workload<FramesSpec> = {
  kind: 'frames',
  description: 'Video frames (a zip of PNGs) through a chain of filters on the GPU — gaussian blur, sobel edges, colour grading by a 3D LUT (.cube), resize — a unit per frame, each checked by recomputing sampled pixels. The result is a zip of PNGs.',
  specSchema: framesSpec,
  examples: [],

  async shard(spec, blobs, accountId) {
    const where = `spec.frames${spec.file ? ` (${spec.file})` : ''}`;
    if (!(await blobs.has(spec.frames))) throw badRequest(`${where}: no blob ${spec.frames.slice(0, 12)}… is stored: upload the zip first (PUT /api/blobs).`, 'bad_frames');
    const files = framesOf(await blobs.read(spec.frames), where);

    // The chain as units run it; each LUT read, checked and stored as float32.
    const stages: Stage[] = [];
    const lutShas: string[] = [];
    for (const [i, f] of spec.filters.entries()) {
      if (f.type === 'blur') stages.push({ type: 'blurH', weights: gaussian(f.sigma) }, { type: 'blurV', weights: gaussian(f.sigma) });
      else if (f.type === 'sobel') stages.push({ type: 'sobel' });
      else if (f.type === 'resize') stages.push({ type: 'resize', width: f.width, height: f.height });
      else {
        const at = `spec.filters[${i}]${f.file ? ` (${f.file})` : ''}`;
        if (!(await blobs.has(f.lut))) throw badRequest(`${at}: no blob ${f.lut.slice(0, 12)}… is stored: upload the .cube file first (PUT /api/blobs).`, 'bad_lut');
        let lut: Lut;
        try {
          lut = readCube(await blobs.read(f.lut));
        } catch (err) {
          if (err instanceof LutError) throw badRequest(`${at}: ${err.message}.`, 'bad_lut');
          throw err;
        }
        stages.push({ type: 'lut', input: lutShas.length, size: lut.size, domain: lut.domain });
        lutShas.push((await blobs.put(encodeNpy({ rows: lut.size ** 3, cols: 3, data: lut.table }), accountId)).sha256);
      }
    }

    const units = [];
    let flops = 0;
    for (const [index, [name, bytes]] of files.entries()) {
      let frame: Frame;
      try {
        frame = readFrame(bytes);
      } catch (err) {
        if (err instanceof FrameError) throw badRequest(`${where}: ${name}: ${err.message}.`, 'bad_frames');
        throw err;
      }
      const sizes = stageSizes(frame.width, frame.height, stages);
      const unitFlops = stages.reduce((sum, s, k) => sum + sizes[k]![0] * sizes[k]![1] * stageFlops(s), 0);
      const { sha256 } = await blobs.put(bytes, accountId);
      const params: FrameParams = { index, name, width: frame.width, height: frame.height, stages };
      units.push({ params: { ...params }, inputs: [sha256, ...lutShas], flops: unitFlops });
      flops += unitFlops;
    }
    const plan: Plan = { count: files.length, names: files.map(([name]) => name) };
    return { plan: { ...plan }, units, flops };
  },

  malformed(params, result) {
    const p = params as unknown as FrameParams;
    const [width, height] = stageSizes(p.width, p.height, p.stages).at(-1) ?? [p.width, p.height];
    try {
      const png = decodeResult(result);
      if (png.channels !== 4 || png.depth !== 8) return `the result is a ${png.depth}-bit PNG of ${png.channels} channels; frames come back as 8-bit RGBA`;
      if (png.width !== width || png.height !== height) return `the result is ${png.width}×${png.height}, the unit's frame comes out ${width}×${height}`;
      return null;
    } catch (err) {
      return `the result is not a PNG (${err instanceof Error ? err.message : String(err)})`;
    }
  },

  check(params, inputs, result) {
    const p = params as unknown as FrameParams;
    const got = rgba8(result);
    if (!got) return false;
    const { frame, luts } = unitInputs(p, inputs);
    const out = chain(frame, p.stages, luts, false);
    if (got.length !== out.width * out.height * 4) return false;
    for (let n = 0; n < checkedPixels; n++) {
      const [x, y] = [randomInt(out.width), randomInt(out.height)];
      const want = out.at(x, y);
      const i = (y * out.width + x) * 4;
      for (let k = 0; k < 4; k++) if (Math.abs(got[i + k]! - level(want[k]!)) > levelsApart) return false;
    }
    return true;
  },

  agree(_params, x, y) {
    const [a, b] = [rgba8(x), rgba8(y)];
    if (!a || !b || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (Math.abs(a[i]! - b[i]!) > levelsApart) return false;
    return true;
  },

  grid(plan) {
    const { count } = plan as unknown as Plan;
    const cols = Math.min(count, 16);
    return { rows: Math.ceil(count / cols), cols };
  },

  // A contact sheet of the frames done so far (the first 64), each at most 96 pixels a side.
  preview(plan, units) {
    const { count } = plan as unknown as Plan;
    const shown = Math.min(count, 64);
    const cols = Math.min(shown, 8), rows = Math.ceil(shown / cols);
    const cell = thumb + 4;
    const sheet = new Uint8Array(cols * cell * rows * cell * 4);
    for (let i = 0; i < sheet.length; i += 4) sheet.set([24, 28, 38, 255], i);
    for (const unit of units) {
      const { index } = unit.params as unknown as FrameParams;
      if (index >= shown) continue;
      const png = decodeResult(unit.result);
      const scale = Math.max(png.width, png.height) / thumb;
      const [w, h] = [Math.max(1, Math.round(png.width / scale)), Math.max(1, Math.round(png.height / scale))];
      const [ox, oy] = [(index % cols) * cell + 2 + Math.floor((thumb - w) / 2), Math.floor(index / cols) * cell + 2 + Math.floor((thumb - h) / 2)];
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const s = (Math.min(png.height - 1, Math.floor(y * scale)) * png.width + Math.min(png.width - 1, Math.floor(x * scale))) * 4;
          const a = png.data[s + 3]! / 255;
          const d = ((oy + y) * cols * cell + ox + x) * 4;
          for (let k = 0; k < 3; k++) sheet[d + k] = Math.round(png.data[s + k]! * a + sheet[d + k]! * (1 - a));
        }
      }
    }
    return encodePng({ width: cols * cell, height: rows * cell, data: sheet, channels: 4, depth: 8 });
  },

  assemble(plan, units) {
    const { names } = plan as unknown as Plan;
    const files: Record<string, [Uint8Array, { level: 0 }]> = {};
    for (const unit of units) files[names[(unit.params as unknown as FrameParams).index]!] = [unit.result, { level: 0 }];
    return { bytes: zipSync(files), contentType: 'application/zip', extension: 'zip' };
  },
};
