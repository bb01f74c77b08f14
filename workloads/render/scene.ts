import { z } from 'zod';

/**
 * Scenes for the path tracer, as a developer writes them (JSON) and as kernels read them
 * (`Compiled`: flat arrays, the same on the coordinator's CPU reference and in WGSL).
 *
 * JSON: a camera (pinhole, or a thin lens with `aperture` and `focus` for depth of field),
 * materials by name, and objects — spheres, planes, triangles, and meshes: OBJ or binary glTF
 * (.glb) files uploaded as blobs, named by sha256, each of one material, placed by `scale`,
 * `rotate` (degrees about x, y, z in that order) and `translate` (meshes.ts reads them).
 * Lengths in scene units, colours linear RGB in [0, 1] (emission may go above 1), angles in
 * degrees. The camera looks from `from` to `at`, `up` points up, `fov` is the vertical field.
 */
const vec3 = z.tuple([z.number().finite(), z.number().finite(), z.number().finite()]);
const colour = z.tuple([z.number().min(0).max(1), z.number().min(0).max(1), z.number().min(0).max(1)]);
const name = z.string().min(1).max(64);

export const materialSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('diffuse'), color: colour }).strict(),
  z.object({ type: z.literal('metal'), color: colour, roughness: z.number().min(0).max(1).default(0) }).strict(),
  z.object({ type: z.literal('glass'), ior: z.number().min(1).max(3).default(1.5) }).strict(),
  z.object({ type: z.literal('emissive'), emission: z.tuple([z.number().min(0).max(1000), z.number().min(0).max(1000), z.number().min(0).max(1000)]) }).strict(),
]);
export type Material = z.infer<typeof materialSchema>;

export const sceneSchema = z
  .object({
    camera: z
      .object({
        from: vec3,
        at: vec3,
        up: vec3.default([0, 1, 0]),
        fov: z.number().gt(1).lt(179),
        aperture: z.number().min(0).max(100).default(0),
        focus: z.number().positive().optional(),
      })
      .strict(),
    background: z.tuple([z.number().min(0).max(1000), z.number().min(0).max(1000), z.number().min(0).max(1000)]).default([0, 0, 0]),
    materials: z.record(name, materialSchema),
    spheres: z.array(z.object({ center: vec3, radius: z.number().positive().max(1e6), material: name }).strict()).max(1024).default([]),
    planes: z.array(z.object({ point: vec3, normal: vec3, material: name }).strict()).max(64).default([]),
    triangles: z.array(z.object({ vertices: z.tuple([vec3, vec3, vec3]), material: name }).strict()).max(100_000).default([]),
    meshes: z
      .array(
        z
          .object({
            blob: z.string().regex(/^[0-9a-f]{64}$/, 'the sha256 of the uploaded .obj or .glb file (PUT /api/blobs)'),
            file: z.string().max(256).optional().describe("the file's name, for messages"),
            material: name,
            scale: z.union([z.number().positive().finite(), z.tuple([z.number().positive().finite(), z.number().positive().finite(), z.number().positive().finite()])]).default(1),
            rotate: vec3.default([0, 0, 0]),
            translate: vec3.default([0, 0, 0]),
          })
          .strict(),
      )
      .max(16)
      .default([]),
  })
  .strict();
export type Scene = z.infer<typeof sceneSchema>;

/** Why a scene that fits the schema still cannot be rendered (a name no material has, a flat camera), or null. */
export function sceneProblem(scene: Scene): string | null {
  const known = new Set(Object.keys(scene.materials));
  const objects = [...scene.spheres.map((s, i) => [`spheres[${i}]`, s.material] as const), ...scene.planes.map((p, i) => [`planes[${i}]`, p.material] as const), ...scene.triangles.map((t, i) => [`triangles[${i}]`, t.material] as const), ...scene.meshes.map((m, i) => [`meshes[${i}]`, m.material] as const)];
  for (const [where, material] of objects) if (!known.has(material)) return `${where}.material: no material is named "${material}" (the scene has ${[...known].join(', ') || 'none'})`;
  if (!objects.length) return 'the scene has no objects: add spheres, planes, triangles or meshes';
  const { from, at, up } = scene.camera;
  const forward = sub(at, from);
  if (length(forward) === 0) return 'camera: "from" and "at" are the same point';
  if (length(cross(forward, up)) < 1e-9 * length(forward) * length(up)) return 'camera: "up" points along the view direction';
  for (const [i, p] of scene.planes.entries()) if (length(p.normal) === 0) return `planes[${i}].normal is the zero vector`;
  for (const [i, t] of scene.triangles.entries()) {
    const [a, b, c] = t.vertices;
    if (length(cross(sub(b, a), sub(c, a))) === 0) return `triangles[${i}] has no area (its vertices are on one line)`;
  }
  return null;
}

type V = readonly [number, number, number];
export const sub = (a: V, b: V): [number, number, number] => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
export const cross = (a: V, b: V): [number, number, number] => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
export const dot = (a: V, b: V) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
export const length = (a: V) => Math.sqrt(dot(a, a));
export const normalize = (a: V): [number, number, number] => {
  const l = length(a);
  return [a[0] / l, a[1] / l, a[2] / l];
};

/** A quad as two triangles, corners in order around it. */
function quad(a: V, b: V, c: V, d: V, material: string) {
  return [
    { vertices: [a, b, c] as [V, V, V], material },
    { vertices: [a, c, d] as [V, V, V], material },
  ];
}

/** The classic Cornell box (its published dimensions, scaled to 0..1): red and green walls, a
 * white box room, a ceiling light, a mirror sphere and a glass sphere. */
function cornell(): Scene {
  const w = (x: number, y: number, z: number) => [x, y, z] as V;
  return sceneSchema.parse({
    camera: { from: [0.5, 0.5, -1.4], at: [0.5, 0.5, 0], fov: 39 },
    materials: {
      white: { type: 'diffuse', color: [0.73, 0.73, 0.73] },
      red: { type: 'diffuse', color: [0.65, 0.05, 0.05] },
      green: { type: 'diffuse', color: [0.12, 0.45, 0.15] },
      light: { type: 'emissive', emission: [15, 15, 15] },
      mirror: { type: 'metal', color: [0.9, 0.9, 0.9], roughness: 0.02 },
      glass: { type: 'glass', ior: 1.5 },
    },
    spheres: [
      { center: [0.3, 0.18, 0.65], radius: 0.18, material: 'mirror' },
      { center: [0.7, 0.18, 0.35], radius: 0.18, material: 'glass' },
    ],
    triangles: [
      ...quad(w(0, 0, 0), w(1, 0, 0), w(1, 0, 1), w(0, 0, 1), 'white'), // floor
      ...quad(w(0, 1, 0), w(0, 1, 1), w(1, 1, 1), w(1, 1, 0), 'white'), // ceiling
      ...quad(w(0, 0, 1), w(1, 0, 1), w(1, 1, 1), w(0, 1, 1), 'white'), // back
      // Looking along +z with y up, +x is on the left of the picture.
      ...quad(w(0, 0, 0), w(0, 0, 1), w(0, 1, 1), w(0, 1, 0), 'green'), // right
      ...quad(w(1, 0, 0), w(1, 1, 0), w(1, 1, 1), w(1, 0, 1), 'red'), // left
      ...quad(w(0.38, 0.999, 0.38), w(0.38, 0.999, 0.62), w(0.62, 0.999, 0.62), w(0.62, 0.999, 0.38), 'light'),
    ],
  });
}

/** Spheres of every material on a plane under a sky, with depth of field. */
function spheres(): Scene {
  return sceneSchema.parse({
    camera: { from: [0, 1.2, -5], at: [0, 0.6, 0], fov: 35, aperture: 0.08, focus: 5 },
    background: [0.6, 0.75, 1],
    materials: {
      ground: { type: 'diffuse', color: [0.5, 0.5, 0.45] },
      clay: { type: 'diffuse', color: [0.8, 0.3, 0.2] },
      gold: { type: 'metal', color: [0.9, 0.7, 0.3], roughness: 0.15 },
      glass: { type: 'glass', ior: 1.5 },
      lamp: { type: 'emissive', emission: [4, 3.6, 3] },
    },
    planes: [{ point: [0, 0, 0], normal: [0, 1, 0], material: 'ground' }],
    spheres: [
      { center: [-1.3, 0.6, 0], radius: 0.6, material: 'clay' },
      { center: [0, 0.6, 0.4], radius: 0.6, material: 'glass' },
      { center: [1.3, 0.6, 0], radius: 0.6, material: 'gold' },
      { center: [0, 2.4, 1.5], radius: 0.4, material: 'lamp' },
    ],
  });
}

/** The built-in scenes, by name: a spec may name one instead of giving its own. */
export const builtinScenes: Record<string, () => Scene> = { cornell, spheres };
