// What every training kernel shares (gpu.ts puts it before train.wgsl and dense4.wgsl: WGSL has
// no includes): the shapes and offsets of a pass, and the grid of its invocations.

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

@group(0) @binding(3) var<uniform> u: Dims;

const wg = 64u;

// Invocations run over a 2-D grid of workgroups (a 1-D one is capped at 65,535 groups).
fn flat(id: vec3u, groups: vec3u) -> u32 {
  return id.y * groups.x * wg + id.x;
}
