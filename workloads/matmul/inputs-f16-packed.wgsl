// Float16 inputs on any adapter: two halves to a u32, widened by unpack2x16float (core WGSL,
// no shader-f16 needed). The same bytes as inputs-f16.wgsl reads, so the same numbers result.
@group(0) @binding(0) var<storage, read> a: array<vec2u>;
@group(0) @binding(1) var<storage, read> b: array<vec2u>;

fn loadA(i: u32) -> vec4f {
  let p = a[i];
  return vec4f(unpack2x16float(p.x), unpack2x16float(p.y));
}

fn loadB(i: u32) -> vec4f {
  let p = b[i];
  return vec4f(unpack2x16float(p.x), unpack2x16float(p.y));
}
