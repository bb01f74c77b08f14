// C = A·B, one output element per invocation. A is m×k, B is k×n, C is m×n, all row-major.
// The simple, obviously-correct kernel: the baseline the fast kernel is measured against.
// A unit can be split over K into several dispatches (watchdog budget): each dispatch adds
// rows [k0, k1) of the product into C, which the first dispatch zeroes.

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;

override wgX: u32 = 8;
override wgY: u32 = 8;

@compute @workgroup_size(wgX, wgY)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let row = id.y;
  let col = id.x;
  if (row >= dims.m || col >= dims.n) {
    return;
  }
  var sum = 0.0;
  if (dims.k0 > 0u) {
    sum = c[row * dims.n + col];
  }
  for (var i = dims.k0; i < dims.k1; i++) {
    sum += a[row * dims.k + i] * b[i * dims.n + col];
  }
  c[row * dims.n + col] = sum;
}
