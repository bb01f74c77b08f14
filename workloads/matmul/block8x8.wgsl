// C = A·B, a 8×8 block of C per invocation, accumulated in 16 vec4 registers.
//
// Inputs are padded by the runner (shaders/matmul/index.ts): m to a multiple of 8, n to a
// multiple of 8, k to a multiple of 4, with zeros, so the inner loop has no bounds checks.
// The k loop is unrolled by 4 (one vec4 of A per row), and every accumulator is its own
// variable: SwiftShader spills arrays indexed in loops to memory, and Tint does not unroll.
// A dispatch adds rows [k0, k1) of the product into C; when k0 > 0 it starts from C's value,
// so a long product is split over K into dispatches that each stay short (GPU watchdogs).
//
// A and B come through loadA/loadB, declared by the inputs file the runner puts before this
// one (configs.ts): float32 (inputs-f32.wgsl), or float16 read as f16 (inputs-f16.wgsl, where
// the adapter has shader-f16) or unpacked from u32 pairs (inputs-f16-packed.wgsl, anywhere).
// Sums are float32 in every case.

override wgX: u32 = 8;
override wgY: u32 = 8;

@group(0) @binding(2) var<storage, read_write> c: array<vec4f>;

@compute @workgroup_size(wgX, wgY)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let n4 = dims.n / 4u;
  let k4 = dims.k / 4u;
  let col = id.x * 2u;
  let row = id.y * 8u;
  if (col >= n4 || row >= dims.m) {
    return;
  }
  var c00 = vec4f(); var c01 = vec4f();
  var c10 = vec4f(); var c11 = vec4f();
  var c20 = vec4f(); var c21 = vec4f();
  var c30 = vec4f(); var c31 = vec4f();
  var c40 = vec4f(); var c41 = vec4f();
  var c50 = vec4f(); var c51 = vec4f();
  var c60 = vec4f(); var c61 = vec4f();
  var c70 = vec4f(); var c71 = vec4f();
  if (dims.k0 > 0u) {
    c00 = c[(row + 0u) * n4 + col + 0u];
    c01 = c[(row + 0u) * n4 + col + 1u];
    c10 = c[(row + 1u) * n4 + col + 0u];
    c11 = c[(row + 1u) * n4 + col + 1u];
    c20 = c[(row + 2u) * n4 + col + 0u];
    c21 = c[(row + 2u) * n4 + col + 1u];
    c30 = c[(row + 3u) * n4 + col + 0u];
    c31 = c[(row + 3u) * n4 + col + 1u];
    c40 = c[(row + 4u) * n4 + col + 0u];
    c41 = c[(row + 4u) * n4 + col + 1u];
    c50 = c[(row + 5u) * n4 + col + 0u];
    c51 = c[(row + 5u) * n4 + col + 1u];
    c60 = c[(row + 6u) * n4 + col + 0u];
    c61 = c[(row + 6u) * n4 + col + 1u];
    c70 = c[(row + 7u) * n4 + col + 0u];
    c71 = c[(row + 7u) * n4 + col + 1u];
  }
  for (var kk = dims.k0 / 4u; kk < dims.k1 / 4u; kk++) {
    let a0 = loadA((row + 0u) * k4 + kk);
    let a1 = loadA((row + 1u) * k4 + kk);
    let a2 = loadA((row + 2u) * k4 + kk);
    let a3 = loadA((row + 3u) * k4 + kk);
    let a4 = loadA((row + 4u) * k4 + kk);
    let a5 = loadA((row + 5u) * k4 + kk);
    let a6 = loadA((row + 6u) * k4 + kk);
    let a7 = loadA((row + 7u) * k4 + kk);
    let b0 = (kk * 4u) * n4 + col;
    let b00 = loadB(b0 + 0u * n4 + 0u); let b01 = loadB(b0 + 0u * n4 + 1u);
    let b10 = loadB(b0 + 1u * n4 + 0u); let b11 = loadB(b0 + 1u * n4 + 1u);
    let b20 = loadB(b0 + 2u * n4 + 0u); let b21 = loadB(b0 + 2u * n4 + 1u);
    let b30 = loadB(b0 + 3u * n4 + 0u); let b31 = loadB(b0 + 3u * n4 + 1u);
    c00 += a0.x * b00 + a0.y * b10 + a0.z * b20 + a0.w * b30;
    c01 += a0.x * b01 + a0.y * b11 + a0.z * b21 + a0.w * b31;
    c10 += a1.x * b00 + a1.y * b10 + a1.z * b20 + a1.w * b30;
    c11 += a1.x * b01 + a1.y * b11 + a1.z * b21 + a1.w * b31;
    c20 += a2.x * b00 + a2.y * b10 + a2.z * b20 + a2.w * b30;
    c21 += a2.x * b01 + a2.y * b11 + a2.z * b21 + a2.w * b31;
    c30 += a3.x * b00 + a3.y * b10 + a3.z * b20 + a3.w * b30;
    c31 += a3.x * b01 + a3.y * b11 + a3.z * b21 + a3.w * b31;
    c40 += a4.x * b00 + a4.y * b10 + a4.z * b20 + a4.w * b30;
    c41 += a4.x * b01 + a4.y * b11 + a4.z * b21 + a4.w * b31;
    c50 += a5.x * b00 + a5.y * b10 + a5.z * b20 + a5.w * b30;
    c51 += a5.x * b01 + a5.y * b11 + a5.z * b21 + a5.w * b31;
    c60 += a6.x * b00 + a6.y * b10 + a6.z * b20 + a6.w * b30;
    c61 += a6.x * b01 + a6.y * b11 + a6.z * b21 + a6.w * b31;
    c70 += a7.x * b00 + a7.y * b10 + a7.z * b20 + a7.w * b30;
    c71 += a7.x * b01 + a7.y * b11 + a7.z * b21 + a7.w * b31;
  }
  c[(row + 0u) * n4 + col + 0u] = c00;
  c[(row + 0u) * n4 + col + 1u] = c01;
  c[(row + 1u) * n4 + col + 0u] = c10;
  c[(row + 1u) * n4 + col + 1u] = c11;
  c[(row + 2u) * n4 + col + 0u] = c20;
  c[(row + 2u) * n4 + col + 1u] = c21;
  c[(row + 3u) * n4 + col + 0u] = c30;
  c[(row + 3u) * n4 + col + 1u] = c31;
  c[(row + 4u) * n4 + col + 0u] = c40;
  c[(row + 4u) * n4 + col + 1u] = c41;
  c[(row + 5u) * n4 + col + 0u] = c50;
  c[(row + 5u) * n4 + col + 1u] = c51;
  c[(row + 6u) * n4 + col + 0u] = c60;
  c[(row + 6u) * n4 + col + 1u] = c61;
  c[(row + 7u) * n4 + col + 0u] = c70;
  c[(row + 7u) * n4 + col + 1u] = c71;
}
