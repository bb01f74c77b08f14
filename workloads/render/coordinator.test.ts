import { decode as decodePng } from 'fast-png';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { encodeNpy, parseNpy } from '../../shaders/npy.ts';
import { TestClient } from '../../tests/helpers/client.ts';
import { eventually, testCoordinator } from '../../tests/helpers/coordinator.ts';
import { RawNode } from '../../tests/helpers/raw-node.ts';
import { compileScene, encodeCompiled } from './compiled.ts';
import { render, toSrgb8 } from './coordinator.ts';
import { builtinScenes } from './scene.ts';
import { traceTile, type TileParams } from './trace.ts';

const cornell = encodeCompiled(compileScene(builtinScenes.cornell!()));
const spheres = encodeCompiled(compileScene(builtinScenes.spheres!()));
const tile: TileParams = { width: 48, height: 48, x0: 16, y0: 4, w: 8, h: 8, s0: 0, s1: 6, seed: 3 };
const npy = (t: TileParams, sums: Float32Array) => encodeNpy({ rows: t.h, cols: 3 * t.w, data: sums });
const rendered = (scene: Uint8Array, t: TileParams) => npy(tile, traceTile(compileScene(scene === cornell ? builtinScenes.cornell!() : builtinScenes.spheres!()), t));
const checked = (result: Uint8Array) => render.check!({ ...tile }, [cornell], result);

describe('render: checking a tile in one execution', () => {
  const honest = rendered(cornell, tile);

  it('accepts an honest tile every time', () => {
    for (let i = 0; i < 10; i++) expect(checked(honest)).toBe(true);
  });

  it('accepts an honest tile with a pixel parted on a rounding', () => {
    const data = parseNpy(honest).data.slice();
    // Paths that part change a pixel wholly: one pixel in 64 of the tile, as a GPU might.
    data.set([data[0]! + 3, data[1]! + 3, data[2]! + 3], 0);
    for (let i = 0; i < 10; i++) expect(checked(npy(tile, data))).toBe(true);
  });

  it('accepts an honest tile with two pixels parted, which the first ~30 picks may both find (a second look, at more picks, clears it)', () => {
    const data = parseNpy(honest).data.slice();
    for (const p of [0, 27]) data.set([data[3 * p]! + 3, data[3 * p + 1]! + 3, data[3 * p + 2]! + 3], 3 * p);
    // Both are among the first picks about one time in five: a hundred checks find that case.
    for (let i = 0; i < 100; i++) expect(checked(npy(tile, data))).toBe(true);
  });

  const lies: [string, () => Uint8Array][] = [
    ['noise', () => npy(tile, parseNpy(honest).data.map((v, i) => (v + 1) * (1 + ((i * 7919) % 13) / 10)))],
    ['fewer samples (4 of 6)', () => rendered(cornell, { ...tile, s1: 4 })],
    ['a tile shifted by a pixel', () => rendered(cornell, { ...tile, x0: tile.x0 + 1 })],
    ['a tile copied from elsewhere in the image', () => rendered(cornell, { ...tile, x0: 24, y0: 20 })],
    ['the tile of another scene', () => rendered(spheres, tile)],
    ['another seed (samples not of this job)', () => rendered(cornell, { ...tile, seed: 4 })],
  ];
  for (const [name, lie] of lies) {
    it(`refuses ${name}, every time`, () => {
      const bytes = lie();
      // The picks are random: a hundred checks, so that a rule that lets one lie in a hundred through is caught here.
      let passed = 0;
      for (let i = 0; i < 100; i++) if (checked(bytes)) passed++;
      expect(passed).toBe(0);
      // Replicas of it would not agree with an honest one either.
      expect(render.agree({ ...tile }, bytes, honest)).toBe(false);
    });
  }

  it('refuses results of the wrong shape or with impossible radiance, saying which', () => {
    expect(render.malformed({ ...tile }, encodeNpy({ rows: 8, cols: 8, data: new Float32Array(64) }))).toBe('the result is 8×8, the unit asked for 8×24 (RGB sums of a 8×8 tile)');
    expect(render.malformed({ ...tile }, npy(tile, new Float32Array(192).fill(-1)))).toMatch(/negative, infinite or NaN/);
    expect(render.malformed({ ...tile }, npy(tile, new Float32Array(192).fill(NaN)))).toMatch(/NaN/);
    expect(render.malformed({ ...tile }, new Uint8Array([1, 2, 3]))).toMatch(/not a float32 \.npy/);
    expect(render.malformed({ ...tile }, honest)).toBeNull();
  });

  it('assembles the tiles and sample batches into a PNG, or the linear radiance', () => {
    const plan = { width: 16, height: 8, spp: 4, tile: 8, batches: 2, output: 'npy' };
    const units = [0, 8].flatMap((x0) => [[0, 2], [2, 4]].map(([s0, s1]) => {
      const t = { width: 16, height: 8, x0, y0: 0, w: 8, h: 8, s0: s0!, s1: s1!, seed: 1 };
      return { params: { ...t }, result: rendered(cornell, t) };
    }));
    const whole = traceTile(compileScene(builtinScenes.cornell!()), { width: 16, height: 8, x0: 0, y0: 0, w: 16, h: 8, s0: 0, s1: 4, seed: 1 });
    const linear = render.assemble!(plan, units);
    expect(linear).toMatchObject({ contentType: 'application/octet-stream', extension: 'npy' });
    parseNpy(linear.bytes).data.forEach((v, i) => expect(v).toBeCloseTo(whole[i]! / 4, 4));
    const png = render.assemble!({ ...plan, output: 'png' }, units);
    expect(png).toMatchObject({ contentType: 'image/png', extension: 'png' });
    const image = decodePng(png.bytes);
    expect([image.width, image.height, image.channels]).toEqual([16, 8, 3]);
    expect([...image.data]).toEqual([...toSrgb8(whole.map((v) => v / 4))]);
  });
});

describe('render jobs through the API', () => {
  let coordinator: Coordinator;
  let dev: TestClient;
  beforeAll(async () => {
    coordinator = await testCoordinator('pglite');
    dev = await TestClient.signup(coordinator.url, 'render-dev@example.com');
    await dev.useNewKey();
  });
  afterAll(() => coordinator?.close());

  it('cuts an image into tiles × sample batches, checked by default', async () => {
    const estimate = await dev.json('POST', '/api/jobs/estimate', { kind: 'render', spec: { scene: 'cornell', width: 100, height: 64, spp: 10, tile: 32, samplesPerUnit: 4 } });
    expect(estimate).toMatchObject({ units: 4 * 2 * 3, verification: 'check', estimate: { flops: 100 * 64 * 10 * 20_000 } });
    const { workloads } = await dev.json('GET', '/api/workloads');
    const render = workloads.find((w: { kind: string }) => w.kind === 'render');
    for (const spec of render.examples) expect((await dev.json('POST', '/api/jobs/estimate', { kind: 'render', spec })).units).toBeGreaterThan(0);
  });

  it('refuses a bad scene with a 400 that names the field and what is wrong, creating nothing', async () => {
    const scene = structuredClone(builtinScenes.spheres!());
    scene.spheres[1]!.material = 'chrome';
    for (const [spec, message] of [
      [{ scene, width: 32, height: 32, spp: 1 }, /spec\.scene: spheres\[1\]\.material: no material is named "chrome"/],
      [{ scene: 'teapot', width: 32, height: 32, spp: 1 }, /spec\.scene: no built-in scene is named "teapot" \(there are cornell, spheres\)/],
      [{ scene: 'cornell', width: 32, height: 32, spp: 0 }, /spp/],
      [{ scene: { ...scene, camera: { ...scene.camera, fov: 0 } }, width: 32, height: 32, spp: 1 }, /fov/],
    ] as const) {
      const res = await dev.call('POST', '/api/jobs', { kind: 'render', spec });
      expect(res.status).toBe(400);
      expect((await res.json()).error.message).toMatch(message);
    }
    expect((await dev.json('GET', '/api/jobs')).jobs).toHaveLength(0);
  });

  it('draws the picture so far: each verified tile over the samples it has, the rest black', async () => {
    const job = await dev.json('POST', '/api/jobs', { kind: 'render', spec: { scene: 'cornell', width: 32, height: 16, spp: 4, tile: 16, samplesPerUnit: 2, seed: 5 } }, 201);
    const units = await dev.json('GET', `/api/jobs/${job.id}/units`);
    expect([units.grid, units.preview, units.units.length]).toEqual([{ rows: 1, cols: 2, layers: 2 }, true, 4]);
    const picture = async () => decodePng(new Uint8Array(await (await dev.call('GET', `/api/jobs/${job.id}/preview`)).arrayBuffer()));
    const before = await picture();
    expect([before.width, before.height, before.channels, before.data.every((v) => v === 0)]).toEqual([32, 16, 3, true]);

    const node = await RawNode.connect(coordinator.url, await dev.useNewKey('render-node'));
    await node.hello({ kinds: ['render'] });
    const lease = await node.lease();
    const t = lease.unit.params as unknown as TileParams;
    const sums = traceTile(compileScene(builtinScenes.cornell!()), t);
    await node.submit(lease, { rows: t.h, cols: 3 * t.w, data: sums });
    await eventually(async () => (await dev.json('GET', `/api/jobs/${job.id}`)).progress.verified === 1, 'the tile verified');
    node.close();
    const after = await picture();
    const want = toSrgb8(sums.map((v) => v / (t.s1 - t.s0)));
    for (let y = 0; y < 16; y++) {
      for (let x = 0; x < 32; x++) {
        const inside = x >= t.x0 && x < t.x0 + t.w && y >= t.y0 && y < t.y0 + t.h;
        const got = [...after.data.subarray((y * 32 + x) * 3, (y * 32 + x) * 3 + 3)];
        expect(got).toEqual(inside ? [...want.subarray(((y - t.y0) * t.w + x - t.x0) * 3, ((y - t.y0) * t.w + x - t.x0) * 3 + 3)] : [0, 0, 0]);
      }
    }

    const matmul = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 8, k: 8, n: 8, seed: 1 } } }, 201);
    const none = await dev.call('GET', `/api/jobs/${matmul.id}/preview`);
    expect(none.status).toBe(404);
    expect((await none.json()).error.message).toMatch(/A matmul job has no preview: its result is at \/api\/jobs\/.*\/result once it is done\./);
  });
});
