// The kernels of a training step (and of inference: the forward ones). Each entry point is one
// pass of the runner's chain (shaders/runner.ts runPasses) and binds what it uses of:
//   a   — read: the pass's main input (x, the layer's input; or dy for backward_input)
//   b   — read: the parameters, or dy, or the labels
//   out — read-write: the pass's output; backward_params and the loss *add* into theirs, which is
//         how a shard's micro-batches accumulate one gradient
//   u   — the shapes and offsets (dims.wgsl, which gpu.ts puts before this file)
// Activations are row-major [n, features], a sample of [c, h, w] being its c·h·w values in that
// order. Sums are in f32, each in a fixed order; the reference in reference.ts is the same maths
// in doubles.

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// The dense passes are matrix products; each invocation computes a 4×4 block of its output,
// so every value it loads serves four multiply-adds (the one-value-per-invocation kernels
// loaded two values per multiply-add and ran at a tenth of the speed on SwiftShader). Loads past
// the last row or column read a clamped copy, and those sums are not stored. Each output value is
// still one sum in a fixed order, as the reference's.

// Four indices from i0, clamped to below `end`.
fn clamp4(i0: u32, end: u32) -> vec4u {
  return min(vec4u(i0, i0 + 1u, i0 + 2u, i0 + 3u), vec4u(end - 1u));
}

// out[row, o] = b[bOff + o] + Σ_j a[row, j]·W[j, o], for rows r0..r0+3 and units o0..o0+3.
@compute @workgroup_size(wg)
fn dense_forward(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = flat(id, groups);
  let fb = (u.f + 3u) / 4u;
  if (i >= ((u.n + 3u) / 4u) * fb) { return; }
  let r0 = (i / fb) * 4u;
  let o0 = (i % fb) * 4u;
  let rs = u.aOff + clamp4(r0, u.n) * u.c;
  let os = clamp4(o0, u.f);
  let bias = vec4f(b[u.bOff + os.x], b[u.bOff + os.y], b[u.bOff + os.z], b[u.bOff + os.w]);
  var s0 = bias;
  var s1 = bias;
  var s2 = bias;
  var s3 = bias;
  for (var j = 0u; j < u.c; j++) {
    let at = u.wOff + j * u.f;
    let w = vec4f(b[at + os.x], b[at + os.y], b[at + os.z], b[at + os.w]);
    s0 += a[rs.x + j] * w;
    s1 += a[rs.y + j] * w;
    s2 += a[rs.z + j] * w;
    s3 += a[rs.w + j] * w;
  }
  store4(u.oOff, r0, o0, u.n, u.f, s0, s1, s2, s3);
}

// Stores rows r0..r0+3 × columns c0..c0+3 of a [rows, cols] matrix at `at`, those inside it.
fn store4(at: u32, r0: u32, c0: u32, rows: u32, cols: u32, s0: vec4f, s1: vec4f, s2: vec4f, s3: vec4f) {
  let s = array<vec4f, 4>(s0, s1, s2, s3);
  for (var r = 0u; r < 4u; r++) {
    if (r0 + r >= rows) { return; }
    for (var k = 0u; k < 4u; k++) {
      if (c0 + k < cols) { out[at + (r0 + r) * cols + c0 + k] = s[r][k]; }
    }
  }
}

// a = dy [n, f], b = parameters, out = dx [n, c]: dx[row, j] = Σ_o dy[row, o]·W[j, o].
@compute @workgroup_size(wg)
fn dense_backward_input(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = flat(id, groups);
  let cb = (u.c + 3u) / 4u;
  if (i >= ((u.n + 3u) / 4u) * cb) { return; }
  let r0 = (i / cb) * 4u;
  let j0 = (i % cb) * 4u;
  let rs = clamp4(r0, u.n) * u.f;
  let ws = u.wOff + clamp4(j0, u.c) * u.f;
  var s0 = vec4f();
  var s1 = vec4f();
  var s2 = vec4f();
  var s3 = vec4f();
  for (var o = 0u; o < u.f; o++) {
    let w = vec4f(b[ws.x + o], b[ws.y + o], b[ws.z + o], b[ws.w + o]);
    s0 += a[rs.x + o] * w;
    s1 += a[rs.y + o] * w;
    s2 += a[rs.z + o] * w;
    s3 += a[rs.w + o] * w;
  }
  store4(0u, r0, j0, u.n, u.c, s0, s1, s2, s3);
}

// a = x [n, c], b = dy [n, f], out = the gradient: dW[j, o] += Σ_row x[row, j]·dy[row, o] for
// j0..j0+3 × o0..o0+3; the f invocations past the blocks add the biases' Σ_row dy[row, o].
@compute @workgroup_size(wg)
fn dense_backward_params(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = flat(id, groups);
  let fb = (u.f + 3u) / 4u;
  let blocks = ((u.c + 3u) / 4u) * fb;
  if (i >= blocks) {
    let o = i - blocks;
    if (o >= u.f) { return; }
    var sum = 0.0;
    for (var row = 0u; row < u.n; row++) {
      sum += b[row * u.f + o];
    }
    out[u.bOff + o] += sum;
    return;
  }
  let j0 = (i / fb) * 4u;
  let o0 = (i % fb) * 4u;
  let js = clamp4(j0, u.c);
  let os = clamp4(o0, u.f);
  var s0 = vec4f();
  var s1 = vec4f();
  var s2 = vec4f();
  var s3 = vec4f();
  for (var row = 0u; row < u.n; row++) {
    let x = u.aOff + row * u.c;
    let d = row * u.f;
    let dy = vec4f(b[d + os.x], b[d + os.y], b[d + os.z], b[d + os.w]);
    s0 += a[x + js.x] * dy;
    s1 += a[x + js.y] * dy;
    s2 += a[x + js.z] * dy;
    s3 += a[x + js.w] * dy;
  }
  let s = array<vec4f, 4>(s0, s1, s2, s3);
  for (var r = 0u; r < 4u; r++) {
    if (j0 + r >= u.c) { break; }
    for (var k = 0u; k < 4u; k++) {
      if (o0 + k < u.f) { out[u.wOff + (j0 + r) * u.f + o0 + k] += s[r][k]; }
    }
  }
}

// a = x, out = max(x, 0); n counts values.
@compute @workgroup_size(wg)
fn relu_forward(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = flat(id, groups);
  if (i >= u.n) { return; }
  out[u.oOff + i] = max(a[u.aOff + i], 0.0);
}

// a = y (the forward output), b = dy, out = dx.
@compute @workgroup_size(wg)
fn relu_backward(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = flat(id, groups);
  if (i >= u.n) { return; }
  out[i] = select(0.0, b[i], a[i] > 0.0);
}

// a = x [n, c, h, w], b = parameters (W [f, c, k, k], then biases), out = y [n, f, oh, ow].
@compute @workgroup_size(wg)
fn conv_forward(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  // A 4×4 block per invocation: filters f0..f0+3 at output columns s0..s0+3 of row r (each
  // input value loaded serves four filters, each weight four columns).
  let i = flat(id, groups);
  let fb = (u.f + 3u) / 4u;
  let sb = (u.ow + 3u) / 4u;
  let per = fb * u.oh * sb;
  if (i >= u.n * per) { return; }
  let row = i / per;
  let f0 = ((i % per) / (u.oh * sb)) * 4u;
  let r = (i % (u.oh * sb)) / sb;
  let s0 = (i % sb) * 4u;
  let fs = clamp4(f0, u.f);
  let ss = clamp4(s0, u.ow);
  let x0 = u.aOff + row * u.c * u.h * u.w;
  let kk = u.k * u.k;
  let bias = vec4f(b[u.bOff + fs.x], b[u.bOff + fs.y], b[u.bOff + fs.z], b[u.bOff + fs.w]);
  var c0 = bias;
  var c1 = bias;
  var c2 = bias;
  var c3 = bias;
  let ws = u.wOff + fs * u.c * kk;
  for (var ci = 0u; ci < u.c; ci++) {
    for (var p = 0u; p < u.k; p++) {
      let xr = x0 + (ci * u.h + r + p) * u.w;
      let wr = (ci * u.k + p) * u.k;
      for (var q = 0u; q < u.k; q++) {
        let w = vec4f(b[ws.x + wr + q], b[ws.y + wr + q], b[ws.z + wr + q], b[ws.w + wr + q]);
        c0 += a[xr + ss.x + q] * w;
        c1 += a[xr + ss.y + q] * w;
        c2 += a[xr + ss.z + q] * w;
        c3 += a[xr + ss.w + q] * w;
      }
    }
  }
  // Column s0 + j of filter f0 + k is c_j[k], at [row, f, r, s].
  let cs = array<vec4f, 4>(c0, c1, c2, c3);
  let plane = u.oh * u.ow;
  for (var k = 0u; k < 4u; k++) {
    if (f0 + k >= u.f) { break; }
    for (var j = 0u; j < 4u; j++) {
      if (s0 + j < u.ow) { out[u.oOff + (row * u.f + f0 + k) * plane + r * u.ow + s0 + j] = cs[j][k]; }
    }
  }
}

// a = dy [n, f, oh, ow], b = parameters, out = dx [n, c, h, w].
@compute @workgroup_size(wg)
fn conv_backward_input(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = flat(id, groups);
  let per = u.c * u.h * u.w;
  if (i >= u.n * per) { return; }
  let row = i / per;
  let ci = (i % per) / (u.h * u.w);
  let y = i32((i % (u.h * u.w)) / u.w);
  let x = i32(i % u.w);
  let d0 = row * u.f * u.oh * u.ow;
  var sum = 0.0;
  for (var fi = 0u; fi < u.f; fi++) {
    for (var p = 0; p < i32(u.k); p++) {
      for (var q = 0; q < i32(u.k); q++) {
        let r = y - p;
        let s = x - q;
        if (r >= 0 && r < i32(u.oh) && s >= 0 && s < i32(u.ow)) {
          sum += a[d0 + (fi * u.oh + u32(r)) * u.ow + u32(s)] * b[u.wOff + ((fi * u.c + ci) * u.k + u32(p)) * u.k + u32(q)];
        }
      }
    }
  }
  out[i] = sum;
}

// a = x, b = dy, out = the gradient. A workgroup per block of 4 filters × 4 of a filter's
// weights (its fan c·k·k flattened), then one per 4 filters' biases: a weight's gradient is a sum
// over every row and output position (36,864 terms for a 64-row micro-batch of 24×24 outputs),
// too few weights to keep the GPU busy one per invocation, so each invocation sums a strided
// share of the terms and the workgroup adds the shares in a fixed tree.
var<workgroup> shares: array<vec4f, 256>;

@compute @workgroup_size(wg)
fn conv_backward_params(@builtin(workgroup_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) lane: u32) {
  let g = gid.y * groups.x + gid.x;
  let fan = u.c * u.k * u.k;
  let fb = (u.f + 3u) / 4u;
  let tb = (fan + 3u) / 4u;
  if (g >= fb * (tb + 1u)) { return; }
  let plane = u.oh * u.ow;
  let terms = u.n * plane;
  let bias = g >= fb * tb;
  let f0 = select((g / tb) * 4u, (g - fb * tb) * 4u, bias);
  let t0 = (g % tb) * 4u;
  let fs = clamp4(f0, u.f);
  // Weight t = (ci, p, q) reads x at (ci, r + p, s + q): its offset from (0, r, s).
  let ts = clamp4(t0, fan);
  let offs = (ts / (u.k * u.k)) * u.h * u.w + ((ts % (u.k * u.k)) / u.k) * u.w + ts % u.k;
  var s0 = vec4f();
  var s1 = vec4f();
  var s2 = vec4f();
  var s3 = vec4f();
  for (var m = lane; m < terms; m += wg) {
    let row = m / plane;
    let rs = m % plane;
    let d = row * u.f * plane + rs;
    let dy = vec4f(b[d + fs.x * plane], b[d + fs.y * plane], b[d + fs.z * plane], b[d + fs.w * plane]);
    if (bias) {
      s0 += dy;
    } else {
      let x = u.aOff + row * u.c * u.h * u.w + (rs / u.ow) * u.w + rs % u.ow;
      s0 += a[x + offs.x] * dy;
      s1 += a[x + offs.y] * dy;
      s2 += a[x + offs.z] * dy;
      s3 += a[x + offs.w] * dy;
    }
  }
  shares[lane * 4u] = s0;
  shares[lane * 4u + 1u] = s1;
  shares[lane * 4u + 2u] = s2;
  shares[lane * 4u + 3u] = s3;
  for (var stride = wg / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lane < stride) {
      for (var j = 0u; j < 4u; j++) { shares[lane * 4u + j] += shares[(lane + stride) * 4u + j]; }
    }
  }
  if (lane != 0u) { return; }
  // shares[j][k]: weight t0 + j of filter f0 + k (the biases: shares[0][k]).
  for (var k = 0u; k < 4u; k++) {
    if (f0 + k >= u.f) { break; }
    if (bias) {
      out[u.bOff + f0 + k] += shares[0][k];
      continue;
    }
    for (var j = 0u; j < 4u; j++) {
      if (t0 + j < fan) { out[u.wOff + (f0 + k) * fan + t0 + j] += shares[j][k]; }
    }
  }
}

// a = x [n, c, h, w], out = y [n, c, oh, ow]: the largest of each k×k window.
@compute @workgroup_size(wg)
fn maxpool_forward(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = flat(id, groups);
  let per = u.c * u.oh * u.ow;
  if (i >= u.n * per) { return; }
  let row = i / per;
  let ci = (i % per) / (u.oh * u.ow);
  let r = (i % (u.oh * u.ow)) / u.ow;
  let s = i % u.ow;
  let x0 = u.aOff + (row * u.c + ci) * u.h * u.w;
  var most = a[x0 + (r * u.k) * u.w + s * u.k];
  for (var p = 0u; p < u.k; p++) {
    for (var q = 0u; q < u.k; q++) {
      most = max(most, a[x0 + (r * u.k + p) * u.w + s * u.k + q]);
    }
  }
  out[u.oOff + i] = most;
}

// a = x, b = dy [n, c, oh, ow], out = dx: each input value takes its window's dy if it is the
// window's first largest value (row-major order), else 0 (windows do not overlap: no races).
@compute @workgroup_size(wg)
fn maxpool_backward(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = flat(id, groups);
  let per = u.c * u.h * u.w;
  if (i >= u.n * per) { return; }
  let row = i / per;
  let ci = (i % per) / (u.h * u.w);
  let y = (i % (u.h * u.w)) / u.w;
  let x = i % u.w;
  let r = y / u.k;
  let s = x / u.k;
  if (r >= u.oh || s >= u.ow) { out[i] = 0.0; return; }
  let x0 = u.aOff + (row * u.c + ci) * u.h * u.w;
  var best = 0u;
  var most = a[x0 + (r * u.k) * u.w + s * u.k];
  for (var p = 0u; p < u.k; p++) {
    for (var q = 0u; q < u.k; q++) {
      let at = (r * u.k + p) * u.w + s * u.k + q;
      if (a[x0 + at] > most) { most = a[x0 + at]; best = p * u.k + q; }
    }
  }
  let mine = (y - r * u.k) * u.k + (x - s * u.k);
  out[i] = select(0.0, b[((row * u.c + ci) * u.oh + r) * u.ow + s], best == mine);
}

// a = logits [n, f], b = labels (as floats), out = dlogits [n, f] = softmax − one-hot; at
// out[tally + row] the row's loss is added, at out[tally + n_max + row] a hit (1) where the
// highest score is the label (u.oh carries n_max: the tally's stride).
@compute @workgroup_size(wg)
fn softmax_cross_entropy(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let row = flat(id, groups);
  if (row >= u.n) { return; }
  let z0 = row * u.f;
  var most = a[z0];
  var best = 0u;
  for (var k = 1u; k < u.f; k++) {
    if (a[z0 + k] > most) { most = a[z0 + k]; best = k; }
  }
  var sum = 0.0;
  for (var k = 0u; k < u.f; k++) { sum += exp(a[z0 + k] - most); }
  let label = u32(b[u.lOff + row]);
  for (var k = 0u; k < u.f; k++) {
    out[z0 + k] = exp(a[z0 + k] - most) / sum - select(0.0, 1.0, k == label);
  }
  out[u.tally + row] += log(sum) - (a[z0 + label] - most);
  out[u.tally + u.oh + row] += select(0.0, 1.0, best == label);
}
