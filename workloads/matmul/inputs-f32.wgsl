// Float32 inputs, for kernels that read A and B through loadA and loadB (vec4 index i).
@group(0) @binding(0) var<storage, read> a: array<vec4f>;
@group(0) @binding(1) var<storage, read> b: array<vec4f>;

fn loadA(i: u32) -> vec4f {
  return a[i];
}

fn loadB(i: u32) -> vec4f {
  return b[i];
}
