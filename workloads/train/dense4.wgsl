// The dense passes of train.wgsl (which says what each binds and computes) for a layer whose
// sizes and offsets are multiples of 4 (784 → 128 on the digits): everything is read and written
// as vec4s. On SwiftShader each storage load is a gather with its own bounds check, so a vec4
// load does the work of four scalar ones; per 4 inputs a 4×4 block makes 8 loads for 64
// multiply-adds, where train.wgsl's makes 32. gpu.ts picks these where they fit.

@group(0) @binding(0) var<storage, read> a: array<vec4f>;
@group(0) @binding(1) var<storage, read> b: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4f>;

// Rows r0..r0+3 (the last repeated past n), as indices of their first vec4 in a [rows, width4] matrix at `at`.
fn rows4(at: u32, r0: u32, width4: u32) -> vec4u {
  return at + min(vec4u(r0, r0 + 1u, r0 + 2u, r0 + 3u), vec4u(u.n - 1u)) * width4;
}

// out[row, o..o+3] = bias + Σ_j a[row, j]·W[j, o..o+3], rows r0..r0+3.
@compute @workgroup_size(wg)
fn dense_forward(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = flat(id, groups);
  let f4 = u.f / 4u;
  let c4 = u.c / 4u;
  if (i >= ((u.n + 3u) / 4u) * f4) { return; }
  let r0 = (i / f4) * 4u;
  let o4 = i % f4;
  let xs = rows4(u.aOff / 4u, r0, c4);
  let bias = b[u.bOff / 4u + o4];
  var s0 = bias;
  var s1 = bias;
  var s2 = bias;
  var s3 = bias;
  for (var j4 = 0u; j4 < c4; j4++) {
    let w = u.wOff / 4u + j4 * 4u * f4 + o4;
    let w0 = b[w];
    let w1 = b[w + f4];
    let w2 = b[w + 2u * f4];
    let w3 = b[w + 3u * f4];
    let x0 = a[xs.x + j4];
    let x1 = a[xs.y + j4];
    let x2 = a[xs.z + j4];
    let x3 = a[xs.w + j4];
    s0 += x0.x * w0 + x0.y * w1 + x0.z * w2 + x0.w * w3;
    s1 += x1.x * w0 + x1.y * w1 + x1.z * w2 + x1.w * w3;
    s2 += x2.x * w0 + x2.y * w1 + x2.z * w2 + x2.w * w3;
    s3 += x3.x * w0 + x3.y * w1 + x3.z * w2 + x3.w * w3;
  }
  let at = u.oOff / 4u + r0 * f4 + o4;
  out[at] = s0;
  if (r0 + 1u < u.n) { out[at + f4] = s1; }
  if (r0 + 2u < u.n) { out[at + 2u * f4] = s2; }
  if (r0 + 3u < u.n) { out[at + 3u * f4] = s3; }
}

// a = dy [n, f], b = parameters, out = dx [n, c]: dx[row, j..j+3] = Σ_o dy[row, o]·W[j..j+3, o], rows r0..r0+3.
@compute @workgroup_size(wg)
fn dense_backward_input(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = flat(id, groups);
  let f4 = u.f / 4u;
  let c4 = u.c / 4u;
  if (i >= ((u.n + 3u) / 4u) * c4) { return; }
  let r0 = (i / c4) * 4u;
  let j4 = i % c4;
  let ds = rows4(0u, r0, f4);
  let ws = u.wOff / 4u + j4 * 4u * f4;
  var s0 = vec4f();
  var s1 = vec4f();
  var s2 = vec4f();
  var s3 = vec4f();
  for (var o4 = 0u; o4 < f4; o4++) {
    let w0 = b[ws + o4];
    let w1 = b[ws + f4 + o4];
    let w2 = b[ws + 2u * f4 + o4];
    let w3 = b[ws + 3u * f4 + o4];
    let d0 = a[ds.x + o4];
    let d1 = a[ds.y + o4];
    let d2 = a[ds.z + o4];
    let d3 = a[ds.w + o4];
    s0 += vec4f(dot(d0, w0), dot(d0, w1), dot(d0, w2), dot(d0, w3));
    s1 += vec4f(dot(d1, w0), dot(d1, w1), dot(d1, w2), dot(d1, w3));
    s2 += vec4f(dot(d2, w0), dot(d2, w1), dot(d2, w2), dot(d2, w3));
    s3 += vec4f(dot(d3, w0), dot(d3, w1), dot(d3, w2), dot(d3, w3));
  }
  let at = r0 * c4 + j4;
  out[at] = s0;
  if (r0 + 1u < u.n) { out[at + c4] = s1; }
  if (r0 + 2u < u.n) { out[at + 2u * c4] = s2; }
  if (r0 + 3u < u.n) { out[at + 3u * c4] = s3; }
}

// a = x [n, c], b = dy [n, f], out = the gradient: dW[j..j+3, o..o+3] += Σ_row x[row, j..j+3] ⊗
// dy[row, o..o+3]; the f/4 invocations past the blocks add the biases' Σ_row dy[row, o..o+3].
@compute @workgroup_size(wg)
fn dense_backward_params(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = flat(id, groups);
  let f4 = u.f / 4u;
  let c4 = u.c / 4u;
  let blocks = c4 * f4;
  if (i >= blocks) {
    let o4 = i - blocks;
    if (o4 >= f4) { return; }
    var sum = vec4f();
    for (var row = 0u; row < u.n; row++) {
      sum += b[row * f4 + o4];
    }
    out[u.bOff / 4u + o4] += sum;
    return;
  }
  let j4 = i / f4;
  let o4 = i % f4;
  var s0 = vec4f();
  var s1 = vec4f();
  var s2 = vec4f();
  var s3 = vec4f();
  for (var row = 0u; row < u.n; row++) {
    let x = a[u.aOff / 4u + row * c4 + j4];
    let dy = b[row * f4 + o4];
    s0 += x.x * dy;
    s1 += x.y * dy;
    s2 += x.z * dy;
    s3 += x.w * dy;
  }
  let at = u.wOff / 4u + j4 * 4u * f4 + o4;
  out[at] += s0;
  out[at + f4] += s1;
  out[at + 2u * f4] += s2;
  out[at + 3u * f4] += s3;
}
