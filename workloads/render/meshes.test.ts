import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Document, WebIO } from '@gltf-transform/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { TestClient } from '../../tests/helpers/client.ts';
import { runCli, testCoordinator } from '../../tests/helpers/coordinator.ts';
import { place, readMesh, withMeshes, type Triangle } from './meshes.ts';
import { builtinScenes, sceneSchema } from './scene.ts';

const text = (s: string) => new TextEncoder().encode(s);

/** A unit square in the xy plane as an OBJ quad, a triangle beside it in a second object. */
const obj = text(['# square', 'o square', 'v 0 0 0', 'v 1 0 0', 'v 1 1 0', 'v 0 1 0', 'f 1 2 3 4', 'o tri', 'v 2 0 0', 'v 3 0 0', 'v 2 1 0', 'f 5/1 6/1 7/1'].join('\n'));

/** A .glb written by glTF Transform: one triangle, indexed, under a node moved by (0, 0, 5) and scaled by 2. */
async function glb(): Promise<Uint8Array> {
  const doc = new Document();
  const buffer = doc.createBuffer();
  const position = doc.createAccessor().setType('VEC3').setArray(new Float32Array([0, 0, 0, 1, 0, 0, 0, 1, 0])).setBuffer(buffer);
  const indices = doc.createAccessor().setType('SCALAR').setArray(new Uint16Array([0, 1, 2])).setBuffer(buffer);
  const mesh = doc.createMesh().addPrimitive(doc.createPrimitive().setAttribute('POSITION', position).setIndices(indices));
  const node = doc.createNode().setMesh(mesh).setTranslation([0, 0, 5]).setScale([2, 2, 2]);
  doc.createScene().addChild(node);
  return new WebIO().writeBinary(doc);
}

describe('render: meshes from OBJ and .glb files', () => {
  it('reads an OBJ: polygons as fans, indices counted across its objects', async () => {
    expect(await readMesh(obj)).toEqual([
      [[0, 0, 0], [1, 0, 0], [1, 1, 0]],
      [[0, 0, 0], [1, 1, 0], [0, 1, 0]],
      [[2, 0, 0], [3, 0, 0], [2, 1, 0]],
    ]);
  });

  it("reads a .glb with its nodes' transforms applied", async () => {
    expect(await readMesh(await glb())).toEqual([[[0, 0, 5], [2, 0, 5], [0, 2, 5]]]);
  });

  it('places a mesh: scaled, turned, then moved', () => {
    const [t] = place([[[1, 0, 0], [0, 1, 0], [0, 0, 1]]], { scale: 2, rotate: [0, 90, 0], translate: [10, 0, 0] }) as [Triangle];
    // 90° about y takes +x to −z and +z to +x.
    t.flat().forEach((v, i) => expect(v).toBeCloseTo([10, 0, -2, 10, 2, 0, 12, 0, 0][i]!, 12));
  });

  it('says what is wrong with a file that is not a mesh', async () => {
    await expect(readMesh(text('{"asset":{"version":"2.0"}}'))).rejects.toThrow(/glTF JSON \(\.gltf\): export it as binary glTF \(\.glb\)/);
    await expect(readMesh(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]))).rejects.toThrow(/neither binary glTF .* nor an OBJ file/);
    await expect(readMesh(text('v 0 0 0\nv 1 0 0\nf 1 2 9'))).rejects.toThrow('OBJ: face 1 of object untitled uses vertex 9; the file has 2');
    await expect(readMesh((await glb()).subarray(0, 40))).rejects.toThrow(/^glTF: /);
  });

  it("puts a scene's meshes into its triangles, dropping those without area", async () => {
    const blobs = new Map([['a'.repeat(64), obj]]);
    const base = builtinScenes.spheres!();
    const scene = sceneSchema.parse({ ...base, meshes: [{ blob: 'a'.repeat(64), file: 'square.obj', material: 'gold', translate: [0, 1, 0] }] });
    const read = await withMeshes(scene, async (sha) => blobs.get(sha) ?? null);
    expect(read.meshes).toEqual([]);
    expect(read.triangles.map((t) => t.vertices[0])).toEqual([[0, 1, 0], [0, 1, 0], [2, 1, 0]]);
    expect(read.triangles.every((t) => t.material === 'gold')).toBe(true);
    const flat = text('v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3');
    await expect(withMeshes({ ...scene, meshes: [{ ...scene.meshes[0]!, blob: 'b'.repeat(64), file: 'line.obj' }] }, async () => flat)).rejects.toThrow('meshes[0] (line.obj): the file holds no triangles with area');
  });
});

describe('render jobs with meshes through the API', () => {
  let coordinator: Coordinator;
  let dev: TestClient;
  beforeAll(async () => {
    coordinator = await testCoordinator('pglite');
    dev = await TestClient.signup(coordinator.url, 'mesh-dev@example.com');
    await dev.useNewKey();
  });
  afterAll(() => coordinator?.close());

  const spec = (meshes: unknown[]) => ({ scene: { ...builtinScenes.spheres!(), meshes }, width: 32, height: 32, spp: 1 });

  it('takes a scene with an uploaded OBJ and a .glb', async () => {
    const meshes = [
      { blob: await dev.upload(obj), file: 'square.obj', material: 'clay', scale: 0.5 },
      { blob: await dev.upload(await glb()), file: 'tri.glb', material: 'lamp', rotate: [0, 45, 0] },
    ];
    expect(await dev.json('POST', '/api/jobs/estimate', { kind: 'render', spec: spec(meshes) })).toMatchObject({ units: 1 });
  });

  it('submits a scene with its mesh files from the CLI: --mesh, or beside the scene', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'supernet-mesh-'));
    mkdirSync(join(dir, 'models'));
    writeFileSync(join(dir, 'square.obj'), obj);
    writeFileSync(join(dir, 'models', 'tri.glb'), await glb());
    const scene = { ...builtinScenes.spheres!(), meshes: [{ file: 'square.obj', material: 'clay' }, { file: 'tri.glb', material: 'gold', translate: [0, 1, 0] }] };
    writeFileSync(join(dir, 'scene.json'), JSON.stringify(scene));
    const env = { SUPERNET_URL: coordinator.url, SUPERNET_KEY: dev.key };
    const args = ['submit', 'render', '--scene', join(dir, 'scene.json'), '--width', '16', '--height', '16', '--spp', '1'];
    const done = await runCli([...args, '--mesh', join(dir, 'models', 'tri.glb')], env);
    expect(done.code, done.output).toBe(0);
    const id = /^([0-9a-f-]{36})$/m.exec(done.output)![1]!;
    const { spec } = await dev.json('GET', `/api/jobs/${id}`);
    expect(spec.scene.meshes.map((m: { blob: string }) => m.blob)).toEqual([await dev.upload(obj), await dev.upload(await glb())]);
    const stray = await runCli([...args, '--mesh', join(dir, 'models', 'tri.glb'), '--mesh', 'teapot.obj'], env);
    expect([stray.code, stray.output]).toEqual([2, 'supernet: --mesh teapot.obj: the scene names no mesh file "teapot.obj" (add {"file": "teapot.obj", "material": …} to its meshes).\n']);
    const lost = await runCli(args, env);
    expect(lost.code).toBe(2);
    expect(lost.output).toContain('meshes[1] (tri.glb)');
  });

  it('refuses a bad mesh with a 400 that names the mesh, its file and what is wrong, creating nothing', async () => {
    const png = await dev.upload(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 13, 10]));
    const before = (await dev.json('GET', '/api/jobs')).jobs.length;
    for (const [meshes, message] of [
      [[{ blob: png, file: 'photo.png', material: 'clay' }], /^spec\.scene\.meshes\[0\] \(photo\.png\): it is neither binary glTF/],
      [[{ blob: 'c'.repeat(64), file: 'lost.obj', material: 'clay' }], /^spec\.scene\.meshes\[0\] \(lost\.obj\): no blob cccccccccccc… is stored: upload the file first/],
      [[{ blob: png, material: 'velvet' }], /^spec\.scene: meshes\[0\]\.material: no material is named "velvet"/],
      [[{ blob: 'not a sha', material: 'clay' }], /blob/],
    ] as const) {
      const res = await dev.call('POST', '/api/jobs', { kind: 'render', spec: spec(meshes as unknown as unknown[]) });
      expect(res.status).toBe(400);
      expect((await res.json()).error.message).toMatch(message);
    }
    expect((await dev.json('GET', '/api/jobs')).jobs).toHaveLength(before);
  });
});
