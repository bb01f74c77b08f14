// C = A·B, a 4×4 block of C per invocation, accumulated in 4 vec4 registers.
//
// Inputs are padded by the runner (shaders/matmul/index.ts): m to a multiple of 4, n to a
// multiple of 4, k to a multiple of 4, with zeros, so the inner loop has no bounds checks.
// The k loop is unrolled by 4 (one vec4 of A per row), and every accumulator is its own
// variable: SwiftShader spills arrays indexed in loops to memory, and Tint does not unroll.
// A dispatch adds rows [k0, k1) of the product into C; when k0 > 0 it starts from C's value,
// so a long product is split over K into dispatches that each stay short (GPU watchdogs).

override wgX: u32 = 8;
override wgY: u32 = 8;

@group(0) @binding(0) var<storage, read> a: array<vec4f>;
@group(0) @binding(1) var<storage, read> b: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> c: array<vec4f>;

@compute @workgroup_size(wgX, wgY)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let n4 = dims.n / 4u;
  let k4 = dims.k / 4u;
  let col = id.x * 1u;
  let row = id.y * 4u;
  if (col >= n4 || row >= dims.m) {
    return;
  }
  var c00 = vec4f();
  var c10 = vec4f();
  var c20 = vec4f();
  var c30 = vec4f();
  if (dims.k0 > 0u) {
    c00 = c[(row + 0u) * n4 + col + 0u];
    c10 = c[(row + 1u) * n4 + col + 0u];
    c20 = c[(row + 2u) * n4 + col + 0u];
    c30 = c[(row + 3u) * n4 + col + 0u];
  }
  for (var kk = dims.k0 / 4u; kk < dims.k1 / 4u; kk++) {
    let a0 = a[(row + 0u) * k4 + kk];
    let a1 = a[(row + 1u) * k4 + kk];
    let a2 = a[(row + 2u) * k4 + kk];
    let a3 = a[(row + 3u) * k4 + kk];
    let b0 = (kk * 4u) * n4 + col;
    let b00 = b[b0 + 0u * n4 + 0u];
    let b10 = b[b0 + 1u * n4 + 0u];
    let b20 = b[b0 + 2u * n4 + 0u];
    let b30 = b[b0 + 3u * n4 + 0u];
    c00 += a0.x * b00 + a0.y * b10 + a0.z * b20 + a0.w * b30;
    c10 += a1.x * b00 + a1.y * b10 + a1.z * b20 + a1.w * b30;
    c20 += a2.x * b00 + a2.y * b10 + a2.z * b20 + a2.w * b30;
    c30 += a3.x * b00 + a3.y * b10 + a3.z * b20 + a3.w * b30;
  }
  c[(row + 0u) * n4 + col + 0u] = c00;
  c[(row + 1u) * n4 + col + 0u] = c10;
  c[(row + 2u) * n4 + col + 0u] = c20;
  c[(row + 3u) * n4 + col + 0u] = c30;
}
