import { describe, expect, it } from 'vitest';
import { buildBvh, compileScene, decodeCompiled, encodeCompiled, type Compiled } from './compiled.ts';
import { builtinScenes, sceneProblem, sceneSchema, type Scene } from './scene.ts';
import { closest, traceTile, tracePixel } from './trace.ts';

/** A small, deterministic stream of numbers for test geometry. */
function numbers(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

const scene = (parts: Partial<Scene> & Pick<Scene, 'materials'>): Scene => sceneSchema.parse({ camera: { from: [0, 0, -5], at: [0, 0, 0], fov: 40 }, ...parts });

describe('render: scenes and the CPU path tracer', () => {
  it('finds the same nearest triangle through the BVH as by testing every triangle', () => {
    const rand = numbers(7);
    const p = () => [rand() * 4 - 2, rand() * 4 - 2, rand() * 4 - 2] as [number, number, number];
    const triangles = Array.from({ length: 300 }, () => {
      const a = p();
      return { vertices: [a, [a[0] + rand() * 0.6, a[1] + rand() * 0.6, a[2]], [a[0], a[1] + rand() * 0.6, a[2] + rand() * 0.6]] as [typeof a, typeof a, typeof a], material: 'm' };
    });
    const compiled = compileScene(scene({ materials: { m: { type: 'diffuse', color: [0.5, 0.5, 0.5] } }, triangles }));
    // One leaf of every triangle: the same scene without a hierarchy to speak of.
    const flat: Compiled = { ...compiled, nodes: new Float32Array([-1e9, -1e9, -1e9, 0, 1e9, 1e9, 1e9, 300]) };
    expect(compiled.nodes.length / 8).toBeGreaterThan(100);
    let hits = 0;
    for (let i = 0; i < 2000; i++) {
      const o = p().map((x) => x * 2) as [number, number, number];
      const d = p();
      const l = Math.hypot(...d);
      const dir = d.map((x) => x / l) as [number, number, number];
      const viaBvh = closest(compiled, o, dir), viaAll = closest(flat, o, dir);
      expect(viaBvh?.t).toBe(viaAll?.t);
      if (viaBvh) hits++;
    }
    expect(hits).toBeGreaterThan(100);
  });

  it('keeps every triangle in exactly one leaf, and leaves small', () => {
    const rand = numbers(3);
    const tris = Array.from({ length: 101 }, () => [0, 1, 2].map(() => [rand(), rand(), rand()]) as unknown as [[number, number, number], [number, number, number], [number, number, number]]);
    const { nodes, order } = buildBvh(tris);
    expect([...order].sort((x, y) => x - y)).toEqual(tris.map((_, i) => i));
    const covered: number[] = [];
    for (let k = 0; k < nodes.length; k += 8) if (nodes[k + 7]! > 0) for (let i = 0; i < nodes[k + 7]!; i++) covered.push(nodes[k + 3]! + i);
    expect(covered.sort((x, y) => x - y)).toEqual(tris.map((_, i) => i));
    for (let k = 0; k < nodes.length; k += 8) expect(nodes[k + 7]!).toBeLessThanOrEqual(4);
  });

  it('lights a white furnace exactly: a diffuse sphere of albedo a under a uniform sky B is a·B wherever it is seen', () => {
    const sky = [0.8, 0.6, 0.4] as const, albedo = [0.5, 0.25, 0.75] as const;
    const compiled = compileScene(scene({ background: [...sky], materials: { m: { type: 'diffuse', color: [...albedo] } }, spheres: [{ center: [0, 0, 0], radius: 1, material: 'm' }] }));
    const tile = traceTile(compiled, { width: 16, height: 16, x0: 0, y0: 0, w: 16, h: 16, s0: 0, s1: 4, seed: 9 });
    let onSphere = 0;
    for (let i = 0; i < 256; i++) {
      const px = [tile[i * 3]! / 4, tile[i * 3 + 1]! / 4, tile[i * 3 + 2]! / 4];
      const lit = sky.map((b, k) => b * albedo[k]!);
      const isSky = px.every((v, k) => Math.abs(v - sky[k]!) < 1e-6);
      const isLit = px.every((v, k) => Math.abs(v - lit[k]!) < 1e-6);
      expect(isSky || isLit || px.some((v, k) => v > lit[k]! && v < sky[k]!), `pixel ${i}: ${px}`).toBe(true); // an edge pixel mixes the two
      if (isLit) onSphere++;
    }
    expect(onSphere).toBeGreaterThan(20);
  });

  it('lets glass pass all light: a glass sphere under a uniform sky shows the sky', () => {
    const compiled = compileScene(scene({ background: [0.5, 0.5, 0.5], materials: { g: { type: 'glass', ior: 1.5 } }, spheres: [{ center: [0, 0, 0], radius: 1, material: 'g' }] }));
    const tile = traceTile(compiled, { width: 12, height: 12, x0: 0, y0: 0, w: 12, h: 12, s0: 0, s1: 8, seed: 1 });
    const mean = tile.reduce((s, v) => s + v, 0) / tile.length / 8;
    expect(mean).toBeGreaterThan(0.49);
    expect(mean).toBeLessThanOrEqual(0.5 + 1e-6);
  });

  it('is a function of (scene, pixel, samples, seed): the same pixel alike in any tile, another seed another image', () => {
    const compiled = compileScene(builtinScenes.cornell!());
    const big = traceTile(compiled, { width: 32, height: 32, x0: 8, y0: 8, w: 8, h: 8, s0: 0, s1: 2, seed: 5 });
    const small = traceTile(compiled, { width: 32, height: 32, x0: 10, y0: 11, w: 2, h: 2, s0: 0, s1: 2, seed: 5 });
    expect([...small.subarray(0, 6)]).toEqual([...big.subarray((3 * 8 + 2) * 3, (3 * 8 + 4) * 3)]);
    // Samples add: [0, 2) is [0, 1) plus [1, 2).
    const one = tracePixel(compiled, { width: 32, height: 32, s0: 0, s1: 1, seed: 5 }, 12, 12), two = tracePixel(compiled, { width: 32, height: 32, s0: 1, s1: 2, seed: 5 }, 12, 12);
    expect(tracePixel(compiled, { width: 32, height: 32, s0: 0, s1: 2, seed: 5 }, 12, 12).map((v, k) => Math.abs(v - one[k]! - two[k]!) < 1e-9)).toEqual([true, true, true]);
    const other = traceTile(compiled, { width: 32, height: 32, x0: 8, y0: 8, w: 8, h: 8, s0: 0, s1: 2, seed: 6 });
    expect([...other]).not.toEqual([...big]);
  });

  it('sees the Cornell box: its light full bright, red on the left, green on the right', () => {
    const compiled = compileScene(builtinScenes.cornell!());
    const at = (x: number, y: number, spp: number) => tracePixel(compiled, { width: 64, height: 64, s0: 0, s1: spp, seed: 2 }, x, y).map((v) => v / spp);
    expect(at(32, 8, 1)).toEqual([15, 15, 15]); // the ceiling light, seen directly
    const left = at(8, 32, 256), right = at(60, 32, 256);
    expect(left[0]).toBeGreaterThan(2 * left[1]!);
    expect(right[1]).toBeGreaterThan(2 * right[0]!);
  });

  it('travels as one blob, and refuses bytes that are not one', () => {
    const compiled = compileScene(builtinScenes.spheres!());
    expect(decodeCompiled(encodeCompiled(compiled))).toEqual(compiled);
    expect(() => decodeCompiled(new Uint8Array(64))).toThrow(/not a compiled scene/);
    expect(() => decodeCompiled(encodeCompiled(compiled).subarray(0, 60))).toThrow(/cut short/);
  });

  it('says what is wrong with a scene that fits the schema but cannot be rendered', () => {
    const base = { materials: { m: { type: 'diffuse' as const, color: [0.5, 0.5, 0.5] as [number, number, number] } } };
    expect(sceneProblem(scene({ ...base, spheres: [{ center: [0, 0, 0], radius: 1, material: 'x' }] }))).toBe('spheres[0].material: no material is named "x" (the scene has m)');
    expect(sceneProblem(scene(base))).toMatch(/no objects/);
    expect(sceneProblem(scene({ ...base, triangles: [{ vertices: [[0, 0, 0], [1, 1, 1], [2, 2, 2]], material: 'm' }] }))).toBe('triangles[0] has no area (its vertices are on one line)');
    expect(sceneProblem(sceneSchema.parse({ camera: { from: [0, 0, 0], at: [0, 0, 0], fov: 40 }, ...base, spheres: [{ center: [0, 0, 1], radius: 1, material: 'm' }] }))).toMatch(/same point/);
    for (const name of Object.keys(builtinScenes)) expect(sceneProblem(builtinScenes[name]!())).toBeNull();
  });
});
