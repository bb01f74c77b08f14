import { decode as decodePng } from 'fast-png';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { encodeNpy } from '../../shaders/npy.ts';
import { TestClient } from '../../tests/helpers/client.ts';
import { testCoordinator } from '../../tests/helpers/coordinator.ts';
import { frames } from './coordinator.ts';
import { gaussian, type Stage } from './filters.ts';
import { clipFrame, clipZip, warmCube } from './fixtures.ts';
import { readFrame, writeFrame } from './image.ts';
import { readCube } from './lut.ts';
import { framesNode } from './node.ts';
import type { FrameParams } from './unit.ts';

const text = (s: string) => new TextEncoder().encode(s);
const warm = readCube(text(warmCube()));
const lutBlob = encodeNpy({ rows: 17 ** 3, cols: 3, data: warm.table });
const stages: Stage[] = [{ type: 'blurH', weights: gaussian(1.5) }, { type: 'blurV', weights: gaussian(1.5) }, { type: 'sobel' }, { type: 'lut', input: 0, size: 17, domain: warm.domain }];
const params = (index: number, s: Stage[] = stages): FrameParams => ({ index, name: `f${index}.png`, width: 48, height: 32, stages: s });
const inputs = (index: number) => [clipFrame(index, 48, 32), lutBlob];
const honest = (index: number, s: Stage[] = stages) => framesNode.cpu(inputs(index), { ...params(index, s) });
const checked = (index: number, result: Uint8Array) => frames.check!({ ...params(index) }, inputs(index), result);

describe('frames: checking a frame in one execution', () => {
  const good = honest(3);

  it('accepts an honest frame every time', () => {
    for (let i = 0; i < 10; i++) expect(checked(3, good)).toBe(true);
  });

  const shifted = () => {
    const f = readFrame(good);
    const rgba = new Float32Array(f.rgba.length);
    rgba.set(f.rgba.subarray(4)); // every pixel one to the left
    return writeFrame({ ...f, rgba });
  };
  const lies: [string, () => Uint8Array][] = [
    ['noise', () => writeFrame({ width: 48, height: 32, rgba: Float32Array.from({ length: 48 * 32 * 4 }, (_, i) => ((i * 7919) % 256) / 255) })],
    ['another frame of the clip', () => honest(4)],
    ['the frame through another chain (no blur)', () => honest(3, stages.slice(2).map((s) => (s.type === 'lut' ? { ...s } : s)))],
    ['the frame shifted by a pixel', shifted],
    ['the frame as it came in, unfiltered', () => writeFrame(readFrame(clipFrame(3, 48, 32)))],
  ];
  for (const [name, lie] of lies) {
    it(`refuses ${name}, every time`, () => {
      const bytes = lie();
      for (let i = 0; i < 10; i++) expect(checked(3, bytes)).toBe(false);
      expect(frames.agree({ ...params(3) }, bytes, good)).toBe(false);
    });
  }

  it('refuses results of the wrong shape or format, saying which', () => {
    expect(frames.malformed({ ...params(3) }, good)).toBeNull();
    expect(frames.malformed({ ...params(3) }, writeFrame({ width: 47, height: 32, rgba: new Float32Array(47 * 32 * 4) }))).toBe("the result is 47×32, the unit's frame comes out 48×32");
    expect(frames.malformed({ ...params(3) }, new Uint8Array([1, 2, 3]))).toMatch(/^the result is not a PNG/);
    expect(frames.malformed({ ...params(3, [{ type: 'resize', width: 10, height: 5 }]) }, good)).toBe("the result is 48×32, the unit's frame comes out 10×5");
  });
});

describe('frames jobs through the API', () => {
  let coordinator: Coordinator;
  let dev: TestClient;
  beforeAll(async () => {
    coordinator = await testCoordinator('pglite');
    dev = await TestClient.signup(coordinator.url, 'frames-dev@example.com');
    await dev.useNewKey();
  });
  afterAll(() => coordinator?.close());

  it('makes a unit per frame, in natural order, and a preview of the frames done', async () => {
    const zip = await dev.upload(clipZip(12, 48, 32, { 'clip/__notes/': new Uint8Array(0), '__MACOSX/clip/._frame_1.png': new Uint8Array([0]) }));
    const lut = await dev.upload(text(warmCube()));
    const spec = { frames: zip, file: 'clip.zip', filters: [{ type: 'blur', sigma: 1.5 }, { type: 'sobel' }, { type: 'lut', lut, file: 'warm.cube' }] };
    const job = await dev.json('POST', '/api/jobs', { kind: 'frames', spec }, 201);
    expect(job).toMatchObject({ units: 12, verification: 'check' });
    const units = await coordinator.deps.db.selectFrom('units').select(['idx', 'params']).where('job_id', '=', job.id).orderBy('idx').execute();
    expect(units.map((u) => (u.params as unknown as FrameParams).name)).toEqual(Array.from({ length: 12 }, (_, i) => `clip/frame_${i + 1}.png`));
    expect((units[0]!.params as unknown as FrameParams).stages.map((s) => s.type)).toEqual(['blurH', 'blurV', 'sobel', 'lut']);
    expect((await dev.json('GET', `/api/jobs/${job.id}/units`)).grid).toEqual({ rows: 1, cols: 12, layers: 1 });
    const sheet = decodePng(new Uint8Array(await (await dev.call('GET', `/api/jobs/${job.id}/preview`)).arrayBuffer()));
    expect([sheet.width, sheet.height]).toEqual([8 * 100, 2 * 100]);
  });

  it('refuses a bad zip, frame or LUT with a 400 that names the file and what is wrong, creating nothing', async () => {
    const lut = await dev.upload(text(warmCube()));
    const chain = (l = lut) => [{ type: 'sobel' }, { type: 'lut', lut: l, file: 'grade.cube' }];
    const upload = (bytes: Uint8Array) => dev.upload(bytes);
    const before = (await dev.json('GET', '/api/jobs')).jobs.length;
    for (const [spec, message] of [
      [{ frames: await upload(text('not a zip')), file: 'clip.zip', filters: chain() }, /^spec\.frames \(clip\.zip\): it is not a zip file/],
      [{ frames: await upload(zipSync({ 'a.png': clipFrame(0, 8, 8), 'notes.txt': text('hi') })), file: 'clip.zip', filters: chain() }, /^spec\.frames \(clip\.zip\): notes\.txt is not a \.png frame/],
      [{ frames: await upload(zipSync({ 'a.png': clipFrame(0, 8, 8), 'b.png': text('garbage') })), file: 'clip.zip', filters: chain() }, /^spec\.frames \(clip\.zip\): b\.png: it is not a PNG/],
      [{ frames: await upload(zipSync({})), file: 'empty.zip', filters: chain() }, /^spec\.frames \(empty\.zip\): the zip holds no \.png frames/],
      [{ frames: await upload(clipZip(2, 8, 8)), filters: chain(await upload(text('LUT_1D_SIZE 2\n0 0 0\n1 1 1'))) }, /^spec\.filters\[1\] \(grade\.cube\): it is a 1D LUT/],
      [{ frames: await upload(clipZip(2, 8, 8)), filters: chain('d'.repeat(64)) }, /^spec\.filters\[1\] \(grade\.cube\): no blob dddddddddddd… is stored/],
      [{ frames: 'e'.repeat(64), filters: chain() }, /^spec\.frames: no blob eeeeeeeeeeee… is stored/],
      [{ frames: await upload(clipZip(2, 8, 8)), filters: [{ type: 'blur', sigma: 100 }] }, /sigma/],
      [{ frames: await upload(clipZip(2, 8, 8)), filters: [] }, /filters/],
    ] as const) {
      const res = await dev.call('POST', '/api/jobs', { kind: 'frames', spec });
      expect(res.status).toBe(400);
      expect((await res.json()).error.message).toMatch(message);
    }
    expect((await dev.json('GET', '/api/jobs')).jobs).toHaveLength(before);
  });
});
