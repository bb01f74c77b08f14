import type { Compiled } from './compiled.ts';

/**
 * The path tracer's CPU reference: the algorithm the WGSL kernel runs, step for step, so a
 * node's tile can be checked by re-tracing some of its pixels here.
 *
 * Every random number of a sample comes from its own stream, seeded from (job seed, pixel,
 * sample): a tile is a function of its inputs up to floating point, wherever it is rendered.
 * A sample: a jittered ray through the pixel from a point of the lens, then up to `maxBounces`
 * bounces — diffuse (cosine-weighted), metal (mirror plus roughness), glass (Fresnel by
 * Schlick: reflect or refract), emissive (adds its light and ends the path). A ray that leaves
 * the scene adds the background. No next-event estimation: light is found by hitting it.
 */
export const maxBounces = 8;
/** How far a bounced ray starts from its surface, against self-intersection. */
export const surfaceEpsilon = 1e-4;

/** What part of the image a unit renders, and which samples. */
export interface TileParams {
  width: number;
  height: number;
  x0: number;
  y0: number;
  w: number;
  h: number;
  /** Samples [s0, s1) of every pixel. */
  s0: number;
  s1: number;
  seed: number;
}

/** PCG's output hash (a 32-bit permutation): the stream's next state from its last. */
export function pcg(v: number): number {
  const state = (Math.imul(v, 747796405) + 2891336453) >>> 0;
  const word = Math.imul((state >>> ((state >>> 28) + 4)) ^ state, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** The first state of a sample's stream. */
export const streamSeed = (seed: number, pixel: number, sample: number) => pcg((seed ^ pcg((pixel ^ pcg(sample)) >>> 0)) >>> 0);

class Stream {
  constructor(private state: number) {}
  /** A float in [0, 1) with 24 random bits (exact in float32). */
  next(): number {
    this.state = pcg(this.state);
    return (this.state >>> 8) / 16777216;
  }
}

type Vec = [number, number, number];

interface Hit {
  t: number;
  /** Unit normal, facing the ray's origin side. */
  n: Vec;
  /** The ray came from outside the surface. */
  front: boolean;
  material: number;
}

/** The nearest surface along the ray from `o` in unit direction `d`, past `surfaceEpsilon`. */
export function closest(scene: Compiled, o: Vec, d: Vec): Hit | null {
  let best: Hit | null = null;
  let tMax = Infinity;
  const { spheres, planes, triangles, nodes } = scene;
  for (let i = 0; i < spheres.length; i += 8) {
    const cx = spheres[i]!, cy = spheres[i + 1]!, cz = spheres[i + 2]!, r = spheres[i + 3]!;
    const ox = o[0] - cx, oy = o[1] - cy, oz = o[2] - cz;
    const a = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    const hb = ox * d[0] + oy * d[1] + oz * d[2];
    const c = ox * ox + oy * oy + oz * oz - r * r;
    const disc = hb * hb - a * c;
    if (disc < 0) continue;
    const sq = Math.sqrt(disc);
    let t = (-hb - sq) / a;
    if (t <= surfaceEpsilon) t = (-hb + sq) / a;
    if (t <= surfaceEpsilon || t >= tMax) continue;
    const n: Vec = [(ox + t * d[0]) / r, (oy + t * d[1]) / r, (oz + t * d[2]) / r];
    const front = n[0] * d[0] + n[1] * d[1] + n[2] * d[2] < 0;
    tMax = t;
    best = { t, n: front ? n : [-n[0], -n[1], -n[2]], front, material: spheres[i + 4]! };
  }
  for (let i = 0; i < planes.length; i += 8) {
    const n: Vec = [planes[i]!, planes[i + 1]!, planes[i + 2]!];
    const denom = n[0] * d[0] + n[1] * d[1] + n[2] * d[2];
    if (denom === 0) continue;
    const t = (planes[i + 3]! - (n[0] * o[0] + n[1] * o[1] + n[2] * o[2])) / denom;
    if (t <= surfaceEpsilon || t >= tMax) continue;
    const front = denom < 0;
    tMax = t;
    best = { t, n: front ? n : [-n[0], -n[1], -n[2]], front, material: planes[i + 4]! };
  }
  if (!nodes.length) return best;
  const inv: Vec = [1 / d[0], 1 / d[1], 1 / d[2]];
  const stack = [0];
  while (stack.length) {
    const k = stack.pop()! * 8;
    // The node's box, by slabs.
    let t0 = 0, t1 = tMax;
    for (let a = 0; a < 3; a++) {
      let near = (nodes[k + a]! - o[a]!) * inv[a]!, far = (nodes[k + 4 + a]! - o[a]!) * inv[a]!;
      if (near > far) [near, far] = [far, near];
      t0 = near > t0 ? near : t0;
      t1 = far < t1 ? far : t1;
    }
    if (t0 > t1) continue;
    const count = nodes[k + 7]!, first = nodes[k + 3]!;
    if (count === 0) {
      stack.push(first + 1, first);
      continue;
    }
    for (let j = first; j < first + count; j++) {
      const b = j * 12;
      // Möller–Trumbore.
      const e1: Vec = [triangles[b + 4]!, triangles[b + 5]!, triangles[b + 6]!], e2: Vec = [triangles[b + 8]!, triangles[b + 9]!, triangles[b + 10]!];
      const p: Vec = [d[1] * e2[2] - d[2] * e2[1], d[2] * e2[0] - d[0] * e2[2], d[0] * e2[1] - d[1] * e2[0]];
      const det = e1[0] * p[0] + e1[1] * p[1] + e1[2] * p[2];
      if (Math.abs(det) < 1e-12) continue;
      const f = 1 / det;
      const s: Vec = [o[0] - triangles[b]!, o[1] - triangles[b + 1]!, o[2] - triangles[b + 2]!];
      const u = f * (s[0] * p[0] + s[1] * p[1] + s[2] * p[2]);
      if (u < 0 || u > 1) continue;
      const q: Vec = [s[1] * e1[2] - s[2] * e1[1], s[2] * e1[0] - s[0] * e1[2], s[0] * e1[1] - s[1] * e1[0]];
      const v = f * (d[0] * q[0] + d[1] * q[1] + d[2] * q[2]);
      if (v < 0 || u + v > 1) continue;
      const t = f * (e2[0] * q[0] + e2[1] * q[1] + e2[2] * q[2]);
      if (t <= surfaceEpsilon || t >= tMax) continue;
      const c: Vec = [e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0]];
      const l = Math.hypot(c[0], c[1], c[2]);
      const n: Vec = [c[0] / l, c[1] / l, c[2] / l];
      const front = n[0] * d[0] + n[1] * d[1] + n[2] * d[2] < 0;
      tMax = t;
      best = { t, n: front ? n : [-n[0], -n[1], -n[2]], front, material: triangles[b + 3]! };
    }
  }
  return best;
}

/** A random unit vector (uniform on the sphere), from two numbers of the stream. */
function unitVector(rng: Stream): Vec {
  const z = 2 * rng.next() - 1, phi = 2 * Math.PI * rng.next();
  const r = Math.sqrt(Math.max(0, 1 - z * z));
  return [r * Math.cos(phi), r * Math.sin(phi), z];
}

/** Radiance along one camera sample of pixel (px, py). */
export function traceSample(scene: Compiled, width: number, height: number, px: number, py: number, rng: Stream): Vec {
  const cam = scene.camera;
  const origin: Vec = [cam[0]!, cam[1]!, cam[2]!];
  const lens = cam[3]!, tanHalf = cam[7]!, focus = cam[11]!;
  const u: Vec = [cam[4]!, cam[5]!, cam[6]!], v: Vec = [cam[8]!, cam[9]!, cam[10]!], w: Vec = [cam[12]!, cam[13]!, cam[14]!];
  // The point on the focal plane the jittered pixel looks at; y grows downwards in the image.
  const sx = ((px + rng.next()) / width) * 2 - 1, sy = 1 - ((py + rng.next()) / height) * 2;
  const halfH = tanHalf * focus, halfW = halfH * (width / height);
  const target: Vec = [0, 1, 2].map((k) => origin[k]! + sx * halfW * u[k]! + sy * halfH * v[k]! - focus * w[k]!) as Vec;
  // A point of the lens (a disk of radius `lens` in the u–v plane).
  const r = lens * Math.sqrt(rng.next()), theta = 2 * Math.PI * rng.next();
  let o: Vec = [0, 1, 2].map((k) => origin[k]! + r * Math.cos(theta) * u[k]! + r * Math.sin(theta) * v[k]!) as Vec;
  let d: Vec = [target[0] - o[0], target[1] - o[1], target[2] - o[2]];
  const radiance: Vec = [0, 0, 0];
  const through: Vec = [1, 1, 1];
  for (let bounce = 0; bounce < maxBounces; bounce++) {
    const dl = Math.hypot(d[0], d[1], d[2]);
    d = [d[0] / dl, d[1] / dl, d[2] / dl];
    const hit = closest(scene, o, d);
    if (!hit) {
      for (let k = 0; k < 3; k++) radiance[k]! += through[k]! * scene.background[k]!;
      break;
    }
    const m = hit.material * 8, mats = scene.materials;
    const type = mats[m]!;
    const p: Vec = [o[0] + hit.t * d[0], o[1] + hit.t * d[1], o[2] + hit.t * d[2]];
    const n = hit.n;
    if (type === 3) {
      for (let k = 0; k < 3; k++) radiance[k]! += through[k]! * mats[m + 5 + k]!;
      break;
    }
    if (type === 0) {
      const e = unitVector(rng);
      let nd: Vec = [n[0] + e[0], n[1] + e[1], n[2] + e[2]];
      if (Math.abs(nd[0]) < 1e-8 && Math.abs(nd[1]) < 1e-8 && Math.abs(nd[2]) < 1e-8) nd = n;
      d = nd;
      for (let k = 0; k < 3; k++) through[k]! *= mats[m + 1 + k]!;
    } else if (type === 1) {
      const dn = d[0] * n[0] + d[1] * n[1] + d[2] * n[2];
      const e = unitVector(rng), rough = mats[m + 4]!;
      d = [d[0] - 2 * dn * n[0] + rough * e[0], d[1] - 2 * dn * n[1] + rough * e[1], d[2] - 2 * dn * n[2] + rough * e[2]];
      if (d[0] * n[0] + d[1] * n[1] + d[2] * n[2] <= 0) break; // scattered into the surface: absorbed
      for (let k = 0; k < 3; k++) through[k]! *= mats[m + 1 + k]!;
    } else {
      const ratio = hit.front ? 1 / mats[m + 4]! : mats[m + 4]!;
      const cos = Math.min(-(d[0] * n[0] + d[1] * n[1] + d[2] * n[2]), 1);
      const sin = Math.sqrt(Math.max(0, 1 - cos * cos));
      const r0 = ((1 - ratio) / (1 + ratio)) ** 2;
      const schlick = r0 + (1 - r0) * (1 - cos) ** 5;
      const pick = rng.next();
      if (ratio * sin > 1 || schlick > pick) {
        const dn = -cos;
        d = [d[0] - 2 * dn * n[0], d[1] - 2 * dn * n[1], d[2] - 2 * dn * n[2]];
      } else {
        const perp: Vec = [ratio * (d[0] + cos * n[0]), ratio * (d[1] + cos * n[1]), ratio * (d[2] + cos * n[2])];
        const along = -Math.sqrt(Math.abs(1 - (perp[0] ** 2 + perp[1] ** 2 + perp[2] ** 2)));
        d = [perp[0] + along * n[0], perp[1] + along * n[1], perp[2] + along * n[2]];
      }
    }
    // The next ray starts just off the surface, on the side it leaves towards.
    const side = d[0] * n[0] + d[1] * n[1] + d[2] * n[2] >= 0 ? 1 : -1;
    o = [p[0] + side * surfaceEpsilon * n[0], p[1] + side * surfaceEpsilon * n[1], p[2] + side * surfaceEpsilon * n[2]];
  }
  return radiance;
}

/** The sum of samples [s0, s1) of one pixel. */
export function tracePixel(scene: Compiled, t: Pick<TileParams, 'width' | 'height' | 's0' | 's1' | 'seed'>, px: number, py: number): Vec {
  const sum: Vec = [0, 0, 0];
  for (let s = t.s0; s < t.s1; s++) {
    const l = traceSample(scene, t.width, t.height, px, py, new Stream(streamSeed(t.seed, py * t.width + px, s)));
    for (let k = 0; k < 3; k++) sum[k]! += l[k]!;
  }
  return sum;
}

/** A tile's radiance sums, row by row, 3 floats a pixel (what a unit returns). */
export function traceTile(scene: Compiled, t: TileParams): Float32Array {
  const out = new Float32Array(t.w * t.h * 3);
  for (let y = 0; y < t.h; y++) for (let x = 0; x < t.w; x++) out.set(tracePixel(scene, t, t.x0 + x, t.y0 + y), (y * t.w + x) * 3);
  return out;
}
