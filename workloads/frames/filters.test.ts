import { describe, expect, it } from 'vitest';
import { chain, filterFrame, gaussian, type Stage } from './filters.ts';
import { clipFrame, warmCube } from './fixtures.ts';
import { readFrame, writeFrame, type Frame } from './image.ts';
import { readCube } from './lut.ts';
import { parseChain } from './chain.ts';

const solid = (width: number, height: number, rgba: number[]): Frame => ({ width, height, rgba: Float32Array.from({ length: width * height * 4 }, (_, i) => rgba[i % 4]!) });
const px = (f: Frame, x: number, y: number) => [...f.rgba.subarray((y * f.width + x) * 4, (y * f.width + x) * 4 + 4)];

describe('frames: the filters on the CPU', () => {
  it('blur keeps a flat picture flat and spreads a point by its gaussian', () => {
    const w = gaussian(1.5);
    expect(w).toHaveLength(11);
    expect(w.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    const stages: Stage[] = [{ type: 'blurH', weights: w }, { type: 'blurV', weights: w }];
    filterFrame(solid(9, 7, [0.2, 0.4, 0.6, 1]), stages, []).rgba.forEach((v, i) => expect(v).toBeCloseTo([0.2, 0.4, 0.6, 1][i % 4]!, 5));
    const point = solid(21, 21, [0, 0, 0, 0]);
    point.rgba.set([1, 1, 1, 1], (10 * 21 + 10) * 4);
    const out = filterFrame(point, stages, []);
    expect(px(out, 10, 10)[0]).toBeCloseTo(w[5]! * w[5]!, 6);
    expect(px(out, 12, 9)[0]).toBeCloseTo(w[7]! * w[4]!, 6);
  });

  it('sobel finds a vertical edge: magnitude 1 beside a step from black to white, 0 away from it', () => {
    const f = solid(8, 4, [0, 0, 0, 0.5]);
    for (let y = 0; y < 4; y++) for (let x = 4; x < 8; x++) f.rgba.set([1, 1, 1, 0.5], (y * 8 + x) * 4);
    const out = filterFrame(f, [{ type: 'sobel' }], []);
    expect(px(out, 3, 1).map((v) => +v.toFixed(6))).toEqual([1, 1, 1, 0.5]);
    expect(px(out, 4, 1)[0]).toBeCloseTo(1, 6);
    expect(px(out, 1, 1)[0]).toBe(0);
  });

  it('an identity LUT changes nothing; a graded one is its table at the entries and trilinear between', () => {
    const identity = ['LUT_3D_SIZE 2', ...[0, 1].flatMap((b) => [0, 1].flatMap((g) => [0, 1].map((r) => `${r} ${g} ${b}`)))].join('\n');
    const frame = readFrame(clipFrame(2, 16, 12));
    const lut = readCube(new TextEncoder().encode(identity));
    filterFrame(frame, [{ type: 'lut', input: 0, size: 2, domain: lut.domain }], [lut]).rgba.forEach((v, i) => expect(v).toBeCloseTo(frame.rgba[i]!, 6));
    const warm = readCube(new TextEncoder().encode(warmCube(5)));
    const at = (r: number, g: number, b: number) => [...warm.table.subarray(((b * 5 + g) * 5 + r) * 3, ((b * 5 + g) * 5 + r) * 3 + 3)];
    const probe = solid(2, 1, [0.25, 0.5, 1, 1]);
    probe.rgba.set([0.375, 0.5, 1, 1], 4); // halfway between red entries 1 and 2
    const out = filterFrame(probe, [{ type: 'lut', input: 0, size: 5, domain: warm.domain }], [warm]);
    px(out, 0, 0).slice(0, 3).forEach((v, k) => expect(v).toBeCloseTo(at(1, 2, 4)[k]!, 6));
    px(out, 1, 0).slice(0, 3).forEach((v, k) => expect(v).toBeCloseTo((at(1, 2, 4)[k]! + at(2, 2, 4)[k]!) / 2, 6));
  });

  it('resize interpolates between pixel centres', () => {
    const f: Frame = { width: 2, height: 1, rgba: Float32Array.from([0, 0, 0, 1, 1, 1, 1, 1]) };
    const out = filterFrame(f, [{ type: 'resize', width: 4, height: 1 }], []);
    expect([0, 1, 2, 3].map((x) => px(out, x, 0)[0])).toEqual([0, 0.25, 0.75, 1]);
  });

  it('a pixel checked alone is the pixel of the whole frame', () => {
    const frame = readFrame(clipFrame(3, 40, 30));
    const warm = readCube(new TextEncoder().encode(warmCube()));
    const stages: Stage[] = [{ type: 'blurH', weights: gaussian(2) }, { type: 'blurV', weights: gaussian(2) }, { type: 'sobel' }, { type: 'lut', input: 0, size: 17, domain: warm.domain }, { type: 'resize', width: 23, height: 17 }];
    const whole = filterFrame(frame, stages, [warm]);
    for (const [x, y] of [[0, 0], [22, 16], [11, 8], [5, 13]] as const) {
      const alone = chain(frame, stages, [warm], false).at(x, y);
      [...alone].forEach((v, k) => expect(v).toBeCloseTo(px(whole, x, y)[k]!, 6));
    }
  });

  it('reads frames of every PNG colour type, and writes 8-bit RGBA', () => {
    const rgb = readFrame(clipFrame(0, 8, 8, 3));
    expect([rgb.width, rgb.height, rgb.rgba[3]]).toEqual([8, 8, 1]);
    const back = readFrame(writeFrame(rgb));
    back.rgba.forEach((v, i) => expect(v).toBeCloseTo(rgb.rgba[i]!, 6));
    expect(() => readFrame(new Uint8Array([1, 2, 3]))).toThrow(/not a PNG/);
  });

  it('reads a chain as people type it, and says what is wrong with one', () => {
    expect(parseChain('blur:2, sobel ,lut:grade.cube,resize:320x240')).toEqual([{ type: 'blur', sigma: 2 }, { type: 'sobel' }, { type: 'lut', file: 'grade.cube' }, { type: 'resize', width: 320, height: 240 }]);
    expect(() => parseChain('blur')).toThrow('"blur": blur takes its sigma in pixels, from 0.3 to 20 (blur:2)');
    expect(() => parseChain('sharpen:2')).toThrow('"sharpen:2" is not a filter');
    expect(() => parseChain('resize:big')).toThrow(/resize takes WIDTHxHEIGHT/);
  });

  it('says what is wrong with a LUT file', () => {
    const cube = (s: string) => () => readCube(new TextEncoder().encode(s));
    expect(cube('LUT_1D_SIZE 2\n0 0 0\n1 1 1')).toThrow('it is a 1D LUT: colour grading takes a 3D LUT (LUT_3D_SIZE)');
    expect(cube('LUT_3D_SIZE 2\n0 0 0\n1 1 1')).toThrow('LUT_3D_SIZE 2 needs 8 entries; the file has 2');
    expect(cube('hello')).toThrow(/no LUT_3D_SIZE line/);
    expect(cube(`LUT_3D_SIZE 2\n${'0 0 x\n'.repeat(8)}`)).toThrow('entry 1 is "0 0 NaN": each entry is three numbers (R G B)');
    expect(cube('LUT_3D_SIZE 99')).toThrow(/from 2 to 65/);
  });
});
