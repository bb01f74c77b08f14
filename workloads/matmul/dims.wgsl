// What the runner (index.ts) writes for every dispatch, one u32 each: the padded shape of the
// product (A is m×k, B is k×n) and the rows [k0, k1) of K this dispatch adds into C.
// configs.ts puts this before every kernel body (WGSL has no includes).
struct Dims {
  m: u32,
  k: u32,
  n: u32,
  k0: u32,
  k1: u32,
}

@group(0) @binding(3) var<uniform> dims: Dims;

