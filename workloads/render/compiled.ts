import { cross, dot, normalize, sub, type Scene } from './scene.ts';

/**
 * A scene as the kernels read it: flat float32 arrays of fixed strides (indices stored as
 * floats, exact below 2²⁴), the same bytes for the CPU reference and the WGSL kernel.
 *   materials  8 floats: type (0 diffuse, 1 metal, 2 glass, 3 emissive), r, g, b, param
 *              (roughness or ior), emission r, g, b
 *   spheres    8 floats: centre x, y, z, radius, material, 0, 0, 0
 *   planes     8 floats: normal x, y, z (unit), d (n·p = d on the plane), material, 0, 0, 0
 *   triangles 12 floats: v0 x, y, z, material, edge1 x, y, z, 0, edge2 x, y, z, 0 (leaf order)
 *   nodes      8 floats: min x, y, z, left child or first triangle, max x, y, z, triangle count
 *              (0: an inner node, its children at `left` and `left + 1`; the root is node 0)
 *   camera    16 floats: from x, y, z, lens radius, u x, y, z, tan(fov/2), v x, y, z, focus,
 *              w x, y, z, 0 (u right, v up, w backwards: the ray leaves along −w)
 *   background 4 floats: r, g, b, 0
 */
export interface Compiled {
  materials: Float32Array;
  spheres: Float32Array;
  planes: Float32Array;
  triangles: Float32Array;
  nodes: Float32Array;
  camera: Float32Array;
  background: Float32Array;
}

export const materialTypes = { diffuse: 0, metal: 1, glass: 2, emissive: 3 } as const;
/** Triangles per BVH leaf at most. */
export const leafSize = 4;

export function compileScene(scene: Scene): Compiled {
  const names = Object.keys(scene.materials);
  const index = new Map(names.map((n, i) => [n, i]));
  const materials = new Float32Array(names.length * 8);
  names.forEach((n, i) => {
    const m = scene.materials[n]!;
    const o = i * 8;
    materials[o] = materialTypes[m.type];
    if (m.type === 'diffuse' || m.type === 'metal') materials.set(m.color, o + 1);
    if (m.type === 'metal') materials[o + 4] = m.roughness;
    if (m.type === 'glass') materials[o + 4] = m.ior;
    if (m.type === 'emissive') materials.set(m.emission, o + 5);
  });
  const spheres = new Float32Array(scene.spheres.length * 8);
  scene.spheres.forEach((s, i) => spheres.set([...s.center, s.radius, index.get(s.material)!], i * 8));
  const planes = new Float32Array(scene.planes.length * 8);
  scene.planes.forEach((p, i) => {
    const n = normalize(p.normal);
    planes.set([...n, dot(n, p.point), index.get(p.material)!], i * 8);
  });
  const { nodes, order } = buildBvh(scene.triangles.map((t) => t.vertices));
  const triangles = new Float32Array(order.length * 12);
  order.forEach((t, i) => {
    const [a, b, c] = scene.triangles[t]!.vertices;
    triangles.set([...a, index.get(scene.triangles[t]!.material)!, ...sub(b, a), 0, ...sub(c, a), 0], i * 12);
  });
  const { from, at, up, fov, aperture, focus } = scene.camera;
  const w = normalize(sub(from, at));
  const u = normalize(cross(up, w));
  const v = cross(w, u);
  const camera = new Float32Array([...from, aperture / 2, ...u, Math.tan((fov * Math.PI) / 360), ...v, focus ?? Math.hypot(...sub(at, from)), ...w, 0]);
  return { materials, spheres, planes, triangles, nodes, camera, background: new Float32Array([...scene.background, 0]) };
}

type V = readonly [number, number, number];

/**
 * A bounding volume hierarchy over triangles: split at the middle of the longest axis of the
 * leaf's centroids (at the median when that leaves one side empty), leaves of at most
 * `leafSize`. Returns the nodes and the triangles' order (leaves own contiguous ranges).
 */
export function buildBvh(tris: (readonly [V, V, V])[]): { nodes: Float32Array; order: number[] } {
  const centroid = tris.map(([a, b, c]) => [0, 1, 2].map((k) => (a[k]! + b[k]! + c[k]!) / 3));
  const order = tris.map((_, i) => i);
  const nodes: number[][] = [];
  const bounds = (from: number, to: number) => {
    const min = [Infinity, Infinity, Infinity], max = [-Infinity, -Infinity, -Infinity];
    for (let i = from; i < to; i++) for (const p of tris[order[i]!]!) for (let k = 0; k < 3; k++) (min[k] = Math.min(min[k]!, p[k]!)), (max[k] = Math.max(max[k]!, p[k]!));
    return { min, max };
  };
  // Nodes are placed before their children are built: a node's two children sit side by side.
  const build = (slot: number, from: number, to: number) => {
    const { min, max } = bounds(from, to);
    if (to - from <= leafSize) {
      nodes[slot] = [...min, from, ...max, to - from];
      return;
    }
    const cmin = [Infinity, Infinity, Infinity], cmax = [-Infinity, -Infinity, -Infinity];
    for (let i = from; i < to; i++) for (let k = 0; k < 3; k++) (cmin[k] = Math.min(cmin[k]!, centroid[order[i]!]![k]!)), (cmax[k] = Math.max(cmax[k]!, centroid[order[i]!]![k]!));
    const axis = [0, 1, 2].reduce((best, k) => (cmax[k]! - cmin[k]! > cmax[best]! - cmin[best]! ? k : best), 0);
    const part = order.slice(from, to).sort((x, y) => centroid[x]![axis]! - centroid[y]![axis]! || x - y);
    order.splice(from, to - from, ...part);
    const middle = (cmin[axis]! + cmax[axis]!) / 2;
    let mid = from;
    while (mid < to && centroid[order[mid]!]![axis]! < middle) mid++;
    if (mid === from || mid === to) mid = (from + to) >> 1;
    const left = nodes.length;
    nodes.push([], []);
    nodes[slot] = [...min, left, ...max, 0];
    build(left, from, mid);
    build(left + 1, mid, to);
  };
  if (tris.length) {
    nodes.push([]);
    build(0, 0, tris.length);
  }
  return { nodes: new Float32Array(nodes.flat()), order };
}

const sections = ['materials', 'spheres', 'planes', 'triangles', 'nodes', 'camera', 'background'] as const;
const magic = 0x53524e44; // "SRND"

/** The compiled scene as one blob: a header of counts, then each array. */
export function encodeCompiled(c: Compiled): Uint8Array {
  const header = new Uint32Array([magic, 1, ...sections.map((s) => c[s].length)]);
  const out = new Uint8Array(header.byteLength + sections.reduce((n, s) => n + c[s].byteLength, 0));
  out.set(new Uint8Array(header.buffer));
  let at = header.byteLength;
  for (const s of sections) {
    out.set(new Uint8Array(c[s].buffer, c[s].byteOffset, c[s].byteLength), at);
    at += c[s].byteLength;
  }
  return out;
}

export function decodeCompiled(bytes: Uint8Array): Compiled {
  const words = (n: number, at: number) => new Uint32Array(bytes.buffer.slice(bytes.byteOffset + at, bytes.byteOffset + at + 4 * n));
  const header = words(2 + sections.length, 0);
  if (header[0] !== magic || header[1] !== 1) throw new Error('not a compiled scene (a blob of another kind, or damaged)');
  let at = header.byteLength;
  const out = {} as Compiled;
  sections.forEach((s, i) => {
    const n = header[2 + i]!;
    if (at + 4 * n > bytes.byteLength) throw new Error('the compiled scene is cut short');
    out[s] = new Float32Array(bytes.buffer.slice(bytes.byteOffset + at, bytes.byteOffset + at + 4 * n));
    at += 4 * n;
  });
  return out;
}
