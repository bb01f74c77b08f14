// Float16 inputs on adapters with shader-f16: half the bytes of A and B to read, widened to
// float32 for the sums (an f16 sum over K = 1024 would keep about two significant digits).
enable f16;

@group(0) @binding(0) var<storage, read> a: array<vec4h>;
@group(0) @binding(1) var<storage, read> b: array<vec4h>;

fn loadA(i: u32) -> vec4f {
  return vec4f(a[i]);
}

fn loadB(i: u32) -> vec4f {
  return vec4f(b[i]);
}
