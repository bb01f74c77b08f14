import { Primitive, WebIO } from '@gltf-transform/core';
import OBJFile from 'obj-file-parser';
import { cross, length, sub, type Scene } from './scene.ts';

/**
 * Triangle meshes from files: Wavefront OBJ (read by obj-file-parser) and binary glTF (.glb,
 * read by glTF Transform). A scene names a mesh by the sha256 of its uploaded file; the
 * coordinator reads it when the job is submitted and the scene's triangles carry it from then on.
 */
export type Vec3 = [number, number, number];
export type Triangle = [Vec3, Vec3, Vec3];

/** What is wrong with a mesh file, said to the developer as it is. */
export class MeshError extends Error {}

/** The file's triangles, in the file's own coordinates (a glTF node's transforms applied). */
export async function readMesh(bytes: Uint8Array): Promise<Triangle[]> {
  const magic = new TextDecoder().decode(bytes.subarray(0, 4));
  if (magic === 'glTF') return readGlb(bytes);
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  if (text.trimStart().startsWith('{')) throw new MeshError('it is glTF JSON (.gltf): export it as binary glTF (.glb), which holds its buffers');
  if (!/^\s*v\s/m.test(text)) throw new MeshError('it is neither binary glTF (.glb, which begins "glTF") nor an OBJ file (no "v x y z" vertex lines)');
  return readObj(text);
}

function readObj(text: string): Triangle[] {
  let parsed: ReturnType<OBJFile['parse']>;
  try {
    parsed = new OBJFile(text).parse();
  } catch (err) {
    throw new MeshError(`OBJ: ${String(err instanceof Error ? err.message : err)}`);
  }
  // OBJ indices count vertices from the start of the file, across its objects.
  const vertices = parsed.models.flatMap((m) => m.vertices.map((v): Vec3 => [v.x, v.y, v.z]));
  const out: Triangle[] = [];
  for (const [m, model] of parsed.models.entries()) {
    for (const [f, face] of model.faces.entries()) {
      const corners = face.vertices.map((c) => {
        const v = vertices[c.vertexIndex - 1];
        if (!v) throw new MeshError(`OBJ: face ${f + 1} of object ${model.name || m + 1} uses vertex ${c.vertexIndex}; the file has ${vertices.length}`);
        return v;
      });
      // A polygon as a fan from its first corner (OBJ polygons are convex).
      for (let i = 1; i + 1 < corners.length; i++) out.push([corners[0]!, corners[i]!, corners[i + 1]!]);
    }
  }
  return out;
}

async function readGlb(bytes: Uint8Array): Promise<Triangle[]> {
  let document;
  try {
    document = await new WebIO().readBinary(bytes);
  } catch (err) {
    throw new MeshError(`glTF: ${err instanceof Error ? err.message : String(err)}`);
  }
  const root = document.getRoot();
  const scene = root.getDefaultScene() ?? root.listScenes()[0];
  if (!scene) throw new MeshError('glTF: the file has no scene');
  const out: Triangle[] = [];
  let skipped = 0;
  scene.traverse((node) => {
    const mesh = node.getMesh();
    if (!mesh) return;
    const m = node.getWorldMatrix();
    const at = (p: number[]): Vec3 => [
      m[0] * p[0]! + m[4] * p[1]! + m[8] * p[2]! + m[12],
      m[1] * p[0]! + m[5] * p[1]! + m[9] * p[2]! + m[13],
      m[2] * p[0]! + m[6] * p[1]! + m[10] * p[2]! + m[14],
    ];
    for (const primitive of mesh.listPrimitives()) {
      const position = primitive.getAttribute('POSITION');
      if (primitive.getMode() !== Primitive.Mode.TRIANGLES || !position) {
        skipped++;
        continue;
      }
      const indices = primitive.getIndices();
      const count = indices ? indices.getCount() : position.getCount();
      const corner = (k: number) => at(position.getElement(indices ? indices.getScalar(k) : k, []));
      for (let k = 0; k + 2 < count; k += 3) out.push([corner(k), corner(k + 1), corner(k + 2)]);
    }
  });
  if (!out.length && skipped) throw new MeshError('glTF: no primitive is a list of triangles (points, lines, strips and fans are not read)');
  return out;
}

/** A mesh's placement in the scene: scaled, then turned about x, y and z (degrees, in that order), then moved. */
export function place(triangles: Triangle[], { scale, rotate, translate }: { scale: number | Vec3; rotate: Vec3; translate: Vec3 }): Triangle[] {
  const s: Vec3 = typeof scale === 'number' ? [scale, scale, scale] : scale;
  const [cx, cy, cz] = rotate.map((d) => Math.cos((d * Math.PI) / 180)) as Vec3;
  const [sx, sy, sz] = rotate.map((d) => Math.sin((d * Math.PI) / 180)) as Vec3;
  const point = ([x0, y0, z0]: Vec3): Vec3 => {
    let x = x0 * s[0], y = y0 * s[1], z = z0 * s[2];
    [y, z] = [cx * y - sx * z, sx * y + cx * z];
    [x, z] = [cy * x + sy * z, -sy * x + cy * z];
    [x, y] = [cz * x - sz * y, sz * x + cz * y];
    return [x + translate[0], y + translate[1], z + translate[2]];
  };
  return triangles.map((t) => t.map(point) as Triangle);
}

/** Most triangles a scene holds, its own and its meshes' together. */
export const trianglesMax = 100_000;

/**
 * The scene with its meshes read into its triangles (zero-area ones, common in exported meshes,
 * dropped). `read` gives a blob's bytes; errors name the mesh and its file.
 */
export async function withMeshes(scene: Scene, read: (sha256: string) => Promise<Uint8Array | null>): Promise<Scene> {
  if (!scene.meshes.length) return scene;
  const triangles = [...scene.triangles];
  for (const [i, mesh] of scene.meshes.entries()) {
    const where = `meshes[${i}]${mesh.file ? ` (${mesh.file})` : ''}`;
    const bytes = await read(mesh.blob);
    if (!bytes) throw new MeshError(`${where}: no blob ${mesh.blob.slice(0, 12)}… is stored: upload the file first (PUT /api/blobs)`);
    let own: Triangle[];
    try {
      own = await readMesh(bytes);
    } catch (err) {
      if (err instanceof MeshError) throw new MeshError(`${where}: ${err.message}`);
      throw err;
    }
    const placed = place(own, mesh).filter(([a, b, c]) => length(cross(sub(b, a), sub(c, a))) > 0 && [a, b, c].every((v) => v.every(Number.isFinite)));
    if (!placed.length) throw new MeshError(`${where}: the file holds no triangles with area`);
    if (triangles.length + placed.length > trianglesMax) throw new MeshError(`${where}: with its ${placed.length} triangles the scene would hold ${triangles.length + placed.length}; at most ${trianglesMax} in all`);
    for (const vertices of placed) triangles.push({ vertices, material: mesh.material });
  }
  return { ...scene, triangles, meshes: [] };
}
