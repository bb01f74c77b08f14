// The kernels of a training step (and of inference: the forward ones). Each entry point is one
// pass of the runner's chain (shaders/runner.ts runPasses) and binds what it uses of:
//   a   — read: the pass's main input (x, the layer's input; or dy for backward_input)
//   b   — read: the parameters, or dy, or the labels
//   out — read-write: the pass's output; backward_params and the loss *add* into theirs, which is
//         how a shard's micro-batches accumulate one gradient
//   u   — the shapes and offsets below
// Activations are row-major [n, features], a sample of [c, h, w] being its c·h·w values in that
// order. One invocation computes one output value (sums in f32, in a fixed order); the
// reference in reference.ts is the same maths in doubles.

struct Dims {
  n: u32,     // rows of this micro-batch
  c: u32,     // input channels (dense: input features)
  h: u32,     // input height
  w: u32,     // input width
  f: u32,     // output channels (dense: units; softmax: classes)
  k: u32,     // kernel size (conv) or window (pool)
  oh: u32,    // output height
  ow: u32,    // output width
  wOff: u32,  // where the layer's weights start in the parameters (and in the gradient)
  bOff: u32,  // where its biases start
  aOff: u32,  // where this micro-batch starts in `a` (the shard's inputs), else 0
  lOff: u32,  // where its labels start in `b` (softmax), else 0
  tally: u32, // softmax: where the per-row loss and hits are added in `out`
  oOff: u32,  // forward passes: where this micro-batch's outputs start in `out` (inference writes all rows' scores into one buffer), else 0
  _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> u: Dims;

const wg = 64u;

// Invocations run over a 2-D grid of workgroups (a 1-D one is capped at 65,535 groups).
fn flat(id: vec3u, groups: vec3u) -> u32 {
  return id.y * groups.x * wg + id.x;
}

@compute @workgroup_size(wg)
fn dense_forward(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = flat(id, groups);
  if (i >= u.n * u.f) { return; }
  let row = i / u.f;
  let o = i % u.f;
  var sum = b[u.bOff + o];
  for (var j = 0u; j < u.c; j++) {
    sum += a[u.aOff + row * u.c + j] * b[u.wOff + j * u.f + o];
  }
  out[u.oOff + i] = sum;
}

// a = dy [n, f], b = parameters, out = dx [n, c].
@compute @workgroup_size(wg)
fn dense_backward_input(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = flat(id, groups);
  if (i >= u.n * u.c) { return; }
  let row = i / u.c;
  let j = i % u.c;
  var sum = 0.0;
  for (var o = 0u; o < u.f; o++) {
    sum += a[row * u.f + o] * b[u.wOff + j * u.f + o];
  }
  out[i] = sum;
}

// a = x [n, c], b = dy [n, f], out = the gradient: dW[j, o] += Σ x[row, j]·dy[row, o]; the
// invocations past c·f add the biases' Σ dy[row, o].
@compute @workgroup_size(wg)
fn dense_backward_params(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = flat(id, groups);
  if (i >= (u.c + 1u) * u.f) { return; }
  let j = i / u.f;
  let o = i % u.f;
  var sum = 0.0;
  if (j < u.c) {
    for (var row = 0u; row < u.n; row++) {
      sum += a[u.aOff + row * u.c + j] * b[row * u.f + o];
    }
    out[u.wOff + i] += sum;
  } else {
    for (var row = 0u; row < u.n; row++) {
      sum += b[row * u.f + o];
    }
    out[u.bOff + o] += sum;
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
  let i = flat(id, groups);
  let per = u.f * u.oh * u.ow;
  if (i >= u.n * per) { return; }
  let row = i / per;
  let fi = (i % per) / (u.oh * u.ow);
  let r = (i % (u.oh * u.ow)) / u.ow;
  let s = i % u.ow;
  let x0 = u.aOff + row * u.c * u.h * u.w;
  var sum = b[u.bOff + fi];
  for (var ci = 0u; ci < u.c; ci++) {
    for (var p = 0u; p < u.k; p++) {
      for (var q = 0u; q < u.k; q++) {
        sum += a[x0 + (ci * u.h + r + p) * u.w + s + q] * b[u.wOff + ((fi * u.c + ci) * u.k + p) * u.k + q];
      }
    }
  }
  out[u.oOff + i] = sum;
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

// a = x, b = dy, out = the gradient: one invocation per weight (then one per bias), summing over
// the micro-batch's rows and output positions.
@compute @workgroup_size(wg)
fn conv_backward_params(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = flat(id, groups);
  let fan = u.c * u.k * u.k;
  if (i >= u.f * (fan + 1u)) { return; }
  let plane = u.oh * u.ow;
  if (i >= u.f * fan) {
    let fi = i - u.f * fan;
    var sum = 0.0;
    for (var row = 0u; row < u.n; row++) {
      for (var j = 0u; j < plane; j++) { sum += b[(row * u.f + fi) * plane + j]; }
    }
    out[u.bOff + fi] += sum;
    return;
  }
  let fi = i / fan;
  let ci = (i % fan) / (u.k * u.k);
  let p = (i % (u.k * u.k)) / u.k;
  let q = i % u.k;
  var sum = 0.0;
  for (var row = 0u; row < u.n; row++) {
    let x0 = u.aOff + row * u.c * u.h * u.w;
    let d0 = (row * u.f + fi) * plane;
    for (var r = 0u; r < u.oh; r++) {
      for (var s = 0u; s < u.ow; s++) {
        sum += b[d0 + r * u.ow + s] * a[x0 + (ci * u.h + r + p) * u.w + s + q];
      }
    }
  }
  out[u.wOff + i] += sum;
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
