// The frames filters (workloads/frames/filters.ts describes them; its CPU reference follows
// these step for step). Every entry point binds the same four: the source image, an auxiliary
// table (blur weights, a LUT, or a placeholder), the destination image, and the uniforms. A
// dispatch writes rows [rowFrom, rowTo) of the destination (the runner splits a big frame).

struct Uniforms {
  srcW: u32, srcH: u32, dstW: u32, dstH: u32,
  rowFrom: u32, rowTo: u32, taps: u32, lutSize: u32,
  lo: vec4f, hi: vec4f,
}

@group(0) @binding(0) var<storage, read> src: array<vec4f>;
@group(0) @binding(1) var<storage, read> aux: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4f>;
@group(0) @binding(3) var<uniform> u: Uniforms;

override wgX: u32 = 8;
override wgY: u32 = 8;

fn pixel(x: i32, y: i32) -> vec4f {
  let cx = clamp(x, 0, i32(u.srcW) - 1);
  let cy = clamp(y, 0, i32(u.srcH) - 1);
  return src[u32(cy) * u.srcW + u32(cx)];
}

// The destination pixel this invocation writes, or none (outside the image or the dispatch's rows).
fn destination(id: vec3u) -> vec2i {
  let y = u.rowFrom + id.y;
  if (id.x >= u.dstW || y >= u.rowTo || y >= u.dstH) { return vec2i(-1, -1); }
  return vec2i(i32(id.x), i32(y));
}

@compute @workgroup_size(wgX, wgY)
fn blurH(@builtin(global_invocation_id) id: vec3u) {
  let p = destination(id);
  if (p.x < 0) { return; }
  let r = i32(u.taps / 2u);
  var sum = vec4f(0.0);
  for (var i = -r; i <= r; i++) { sum += aux[u32(i + r)] * pixel(p.x + i, p.y); }
  dst[u32(p.y) * u.dstW + u32(p.x)] = sum;
}

@compute @workgroup_size(wgX, wgY)
fn blurV(@builtin(global_invocation_id) id: vec3u) {
  let p = destination(id);
  if (p.x < 0) { return; }
  let r = i32(u.taps / 2u);
  var sum = vec4f(0.0);
  for (var i = -r; i <= r; i++) { sum += aux[u32(i + r)] * pixel(p.x, p.y + i); }
  dst[u32(p.y) * u.dstW + u32(p.x)] = sum;
}

fn luma(x: i32, y: i32) -> f32 {
  return dot(clamp(pixel(x, y).rgb, vec3f(0.0), vec3f(1.0)), vec3f(0.2126, 0.7152, 0.0722));
}

@compute @workgroup_size(wgX, wgY)
fn sobel(@builtin(global_invocation_id) id: vec3u) {
  _ = aux[0];
  let p = destination(id);
  if (p.x < 0) { return; }
  let x = p.x;
  let y = p.y;
  let gx = luma(x + 1, y - 1) + 2.0 * luma(x + 1, y) + luma(x + 1, y + 1) - luma(x - 1, y - 1) - 2.0 * luma(x - 1, y) - luma(x - 1, y + 1);
  let gy = luma(x - 1, y + 1) + 2.0 * luma(x, y + 1) + luma(x + 1, y + 1) - luma(x - 1, y - 1) - 2.0 * luma(x, y - 1) - luma(x + 1, y - 1);
  let m = sqrt(gx * gx + gy * gy) / 4.0;
  dst[u32(y) * u.dstW + u32(x)] = vec4f(m, m, m, pixel(x, y).a);
}

fn entry(r: u32, g: u32, b: u32) -> vec3f {
  let n = u.lutSize;
  let e = ((b * n + g) * n + r) * 3u;
  return vec3f(aux[e], aux[e + 1u], aux[e + 2u]);
}

@compute @workgroup_size(wgX, wgY)
fn lut(@builtin(global_invocation_id) id: vec3u) {
  let p = destination(id);
  if (p.x < 0) { return; }
  let s = pixel(p.x, p.y);
  let n = u.lutSize;
  let c = clamp((s.rgb - u.lo.rgb) / (u.hi.rgb - u.lo.rgb), vec3f(0.0), vec3f(1.0)) * f32(n - 1u);
  let i0 = min(vec3u(n - 2u), vec3u(floor(c)));
  let f = c - vec3f(i0);
  var out = vec3f(0.0);
  for (var corner = 0u; corner < 8u; corner++) {
    let d = vec3u(corner & 1u, (corner >> 1u) & 1u, (corner >> 2u) & 1u);
    let w = select(1.0 - f, f, d == vec3u(1u));
    out += w.x * w.y * w.z * entry(i0.x + d.x, i0.y + d.y, i0.z + d.z);
  }
  dst[u32(p.y) * u.dstW + u32(p.x)] = vec4f(out, s.a);
}

@compute @workgroup_size(wgX, wgY)
fn resize(@builtin(global_invocation_id) id: vec3u) {
  _ = aux[0];
  let p = destination(id);
  if (p.x < 0) { return; }
  let scale = vec2f(f32(u.srcW) / f32(u.dstW), f32(u.srcH) / f32(u.dstH));
  let at = clamp((vec2f(p) + 0.5) * scale - 0.5, vec2f(0.0), vec2f(f32(u.srcW - 1u), f32(u.srcH - 1u)));
  let p0 = vec2i(floor(at));
  let a = at - vec2f(p0);
  let top = mix(pixel(p0.x, p0.y), pixel(p0.x + 1, p0.y), a.x);
  let bottom = mix(pixel(p0.x, p0.y + 1), pixel(p0.x + 1, p0.y + 1), a.x);
  dst[u32(p.y) * u.dstW + u32(p.x)] = mix(top, bottom, a.y);
}
