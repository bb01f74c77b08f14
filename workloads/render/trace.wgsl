// The path tracer, one invocation a pixel of the unit's tile: the algorithm of trace.ts, step
// for step (trace.ts says what it does and why). Adds samples [p.s0, p.s1) of each pixel to
// `sums` (3 floats a pixel, row by row): a dispatch covers some of the unit's samples, and the
// runner (shaders/runner.ts) splits a unit's samples into dispatches within its budget.

struct Params {
  width: u32, height: u32, x0: u32, y0: u32,
  w: u32, h: u32, seed: u32, s0: u32,
  s1: u32, spheres: u32, planes: u32, nodes: u32,
  cam0: vec4f, // from, lens radius
  cam1: vec4f, // u, tan(fov / 2)
  cam2: vec4f, // v, focus distance
  cam3: vec4f, // w
  background: vec4f,
}

@group(0) @binding(0) var<storage, read> materials: array<vec4f>; // 2 a material
@group(0) @binding(1) var<storage, read> spheres: array<vec4f>;   // 2 a sphere
@group(0) @binding(2) var<storage, read> planes: array<vec4f>;    // 2 a plane
@group(0) @binding(3) var<storage, read> triangles: array<vec4f>; // 3 a triangle
@group(0) @binding(4) var<storage, read> nodes: array<vec4f>;     // 2 a node
@group(0) @binding(5) var<storage, read_write> sums: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

override wgX: u32 = 8;
override wgY: u32 = 8;

const maxBounces = 8u;
const surfaceEpsilon = 1e-4;
const pi = 3.14159265358979;

fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

var<private> rng: u32;

fn next() -> f32 {
  rng = pcg(rng);
  return f32(rng >> 8u) / 16777216.0;
}

struct Hit { t: f32, n: vec3f, front: bool, material: u32, found: bool }

fn closest(o: vec3f, d: vec3f) -> Hit {
  var best = Hit(0.0, vec3f(0.0), false, 0u, false);
  var tMax = 3.4e38;
  for (var i = 0u; i < p.spheres; i++) {
    let s = spheres[2u * i];
    let oc = o - s.xyz;
    let a = dot(d, d);
    let hb = dot(oc, d);
    let c = dot(oc, oc) - s.w * s.w;
    let disc = hb * hb - a * c;
    if (disc < 0.0) { continue; }
    let sq = sqrt(disc);
    var t = (-hb - sq) / a;
    if (t <= surfaceEpsilon) { t = (-hb + sq) / a; }
    if (t <= surfaceEpsilon || t >= tMax) { continue; }
    let n = (oc + t * d) / s.w;
    let front = dot(n, d) < 0.0;
    tMax = t;
    best = Hit(t, select(-n, n, front), front, u32(spheres[2u * i + 1u].x), true);
  }
  for (var i = 0u; i < p.planes; i++) {
    let pl = planes[2u * i];
    let denom = dot(pl.xyz, d);
    if (denom == 0.0) { continue; }
    let t = (pl.w - dot(pl.xyz, o)) / denom;
    if (t <= surfaceEpsilon || t >= tMax) { continue; }
    let front = denom < 0.0;
    tMax = t;
    best = Hit(t, select(-pl.xyz, pl.xyz, front), front, u32(planes[2u * i + 1u].x), true);
  }
  if (p.nodes == 0u) { return best; }
  let inv = 1.0 / d;
  var stack: array<u32, 64>;
  var top = 1u;
  stack[0] = 0u;
  while (top > 0u) {
    top--;
    let k = stack[top];
    let lo = nodes[2u * k];
    let hi = nodes[2u * k + 1u];
    let a = (lo.xyz - o) * inv;
    let b = (hi.xyz - o) * inv;
    let near = min(a, b);
    let far = max(a, b);
    let t0 = max(max(max(near.x, near.y), near.z), 0.0);
    let t1 = min(min(min(far.x, far.y), far.z), tMax);
    if (t0 > t1) { continue; }
    let first = u32(lo.w);
    let count = u32(hi.w);
    if (count == 0u) {
      if (top + 2u > 64u) { continue; } // deeper than any tree made here (trees are balanced)
      stack[top] = first + 1u;
      stack[top + 1u] = first;
      top += 2u;
      continue;
    }
    for (var j = first; j < first + count; j++) {
      let v0 = triangles[3u * j];
      let e1 = triangles[3u * j + 1u].xyz;
      let e2 = triangles[3u * j + 2u].xyz;
      let pv = cross(d, e2);
      let det = dot(e1, pv);
      if (abs(det) < 1e-12) { continue; }
      let f = 1.0 / det;
      let s = o - v0.xyz;
      let u = f * dot(s, pv);
      if (u < 0.0 || u > 1.0) { continue; }
      let q = cross(s, e1);
      let v = f * dot(d, q);
      if (v < 0.0 || u + v > 1.0) { continue; }
      let t = f * dot(e2, q);
      if (t <= surfaceEpsilon || t >= tMax) { continue; }
      let n = normalize(cross(e1, e2));
      let front = dot(n, d) < 0.0;
      tMax = t;
      best = Hit(t, select(-n, n, front), front, u32(v0.w), true);
    }
  }
  return best;
}

fn unitVector() -> vec3f {
  let z = 2.0 * next() - 1.0;
  let phi = 2.0 * pi * next();
  let r = sqrt(max(0.0, 1.0 - z * z));
  return vec3f(r * cos(phi), r * sin(phi), z);
}

fn traceSample(px: u32, py: u32) -> vec3f {
  let origin = p.cam0.xyz;
  let u = p.cam1.xyz;
  let v = p.cam2.xyz;
  let w = p.cam3.xyz;
  let sx = ((f32(px) + next()) / f32(p.width)) * 2.0 - 1.0;
  let sy = 1.0 - ((f32(py) + next()) / f32(p.height)) * 2.0;
  let halfH = p.cam1.w * p.cam2.w;
  let halfW = halfH * (f32(p.width) / f32(p.height));
  let aim = origin + sx * halfW * u + sy * halfH * v - p.cam2.w * w;
  let r = p.cam0.w * sqrt(next());
  let theta = 2.0 * pi * next();
  var o = origin + r * cos(theta) * u + r * sin(theta) * v;
  var d = aim - o;
  var radiance = vec3f(0.0);
  var through = vec3f(1.0);
  for (var bounce = 0u; bounce < maxBounces; bounce++) {
    d = normalize(d);
    let hit = closest(o, d);
    if (!hit.found) {
      radiance += through * p.background.xyz;
      break;
    }
    let m0 = materials[2u * hit.material];
    let m1 = materials[2u * hit.material + 1u];
    let type_ = u32(m0.x);
    let at = o + hit.t * d;
    let n = hit.n;
    if (type_ == 3u) {
      radiance += through * m1.yzw;
      break;
    }
    if (type_ == 0u) {
      let e = unitVector();
      var nd = n + e;
      if (all(abs(nd) < vec3f(1e-8))) { nd = n; }
      d = nd;
      through *= m0.yzw;
    } else if (type_ == 1u) {
      let e = unitVector();
      d = d - 2.0 * dot(d, n) * n + m1.x * e;
      if (dot(d, n) <= 0.0) { break; }
      through *= m0.yzw;
    } else {
      let ratio = select(m1.x, 1.0 / m1.x, hit.front);
      let c = min(-dot(d, n), 1.0);
      let sn = sqrt(max(0.0, 1.0 - c * c));
      let r0 = ((1.0 - ratio) / (1.0 + ratio)) * ((1.0 - ratio) / (1.0 + ratio));
      let schlick = r0 + (1.0 - r0) * pow(1.0 - c, 5.0);
      let pick = next();
      if (ratio * sn > 1.0 || schlick > pick) {
        d = d + 2.0 * c * n;
      } else {
        let perp = ratio * (d + c * n);
        let along = -sqrt(abs(1.0 - dot(perp, perp)));
        d = perp + along * n;
      }
    }
    let side = select(-1.0, 1.0, dot(d, n) >= 0.0);
    o = at + side * surfaceEpsilon * n;
  }
  return radiance;
}

@compute @workgroup_size(wgX, wgY)
fn main(@builtin(global_invocation_id) id: vec3u) {
  if (id.x >= p.w || id.y >= p.h) { return; }
  let px = p.x0 + id.x;
  let py = p.y0 + id.y;
  var sum = vec3f(0.0);
  for (var s = p.s0; s < p.s1; s++) {
    rng = pcg(p.seed ^ pcg((py * p.width + px) ^ pcg(s)));
    sum += traceSample(px, py);
  }
  let k = 3u * (id.y * p.w + id.x);
  sums[k] += sum.x;
  sums[k + 1u] += sum.y;
  sums[k + 2u] += sum.z;
}
