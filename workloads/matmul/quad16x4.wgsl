// C = A·B, a 16×4 block of C per invocation, with A's rows shared across each quad.
//
// Each invocation needs 16 vec4s of A per step of 4 along k, the same for every invocation of
// its workgroup (the workgroup is one row of blocks: wgY = 1). So each lane of a quad loads a
// quarter of them and quadBroadcast hands them round: 4 loads instead of 16. On SwiftShader a
// quad is one SIMD register, so a broadcast is a register shuffle while a load is a gather:
// measured 1.3-1.5× the plain 8×8 block (Dawn, 1024², 2 cores). No lane returns early (a quad
// must stay whole), so lanes past the last column compute a clamped copy and skip the store.
// Padding and K-splitting are as in block8x8.wgsl.

override wgX: u32 = 64;

@group(0) @binding(0) var<storage, read> a: array<vec4f>;
@group(0) @binding(1) var<storage, read> b: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> c: array<vec4f>;

@compute @workgroup_size(wgX, 1)
fn main(@builtin(global_invocation_id) id: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let n4 = dims.n / 4u;
  let k4 = dims.k / 4u;
  let col = min(id.x * 1u, n4 - 1u);
  let row = id.y * 16u;
  let quad = lane & 3u;
  var c0_0 = vec4f();
  var c1_0 = vec4f();
  var c2_0 = vec4f();
  var c3_0 = vec4f();
  var c4_0 = vec4f();
  var c5_0 = vec4f();
  var c6_0 = vec4f();
  var c7_0 = vec4f();
  var c8_0 = vec4f();
  var c9_0 = vec4f();
  var c10_0 = vec4f();
  var c11_0 = vec4f();
  var c12_0 = vec4f();
  var c13_0 = vec4f();
  var c14_0 = vec4f();
  var c15_0 = vec4f();
  if (dims.k0 > 0u) {
    c0_0 = c[(row + 0u) * n4 + col + 0u];
    c1_0 = c[(row + 1u) * n4 + col + 0u];
    c2_0 = c[(row + 2u) * n4 + col + 0u];
    c3_0 = c[(row + 3u) * n4 + col + 0u];
    c4_0 = c[(row + 4u) * n4 + col + 0u];
    c5_0 = c[(row + 5u) * n4 + col + 0u];
    c6_0 = c[(row + 6u) * n4 + col + 0u];
    c7_0 = c[(row + 7u) * n4 + col + 0u];
    c8_0 = c[(row + 8u) * n4 + col + 0u];
    c9_0 = c[(row + 9u) * n4 + col + 0u];
    c10_0 = c[(row + 10u) * n4 + col + 0u];
    c11_0 = c[(row + 11u) * n4 + col + 0u];
    c12_0 = c[(row + 12u) * n4 + col + 0u];
    c13_0 = c[(row + 13u) * n4 + col + 0u];
    c14_0 = c[(row + 14u) * n4 + col + 0u];
    c15_0 = c[(row + 15u) * n4 + col + 0u];
  }
  for (var kk = dims.k0 / 4u; kk < dims.k1 / 4u; kk++) {
    let mine0 = a[(row + 0u + quad) * k4 + kk];
    let mine1 = a[(row + 4u + quad) * k4 + kk];
    let mine2 = a[(row + 8u + quad) * k4 + kk];
    let mine3 = a[(row + 12u + quad) * k4 + kk];
    let a0 = quadBroadcast(mine0, 0u);
    let a1 = quadBroadcast(mine0, 1u);
    let a2 = quadBroadcast(mine0, 2u);
    let a3 = quadBroadcast(mine0, 3u);
    let a4 = quadBroadcast(mine1, 0u);
    let a5 = quadBroadcast(mine1, 1u);
    let a6 = quadBroadcast(mine1, 2u);
    let a7 = quadBroadcast(mine1, 3u);
    let a8 = quadBroadcast(mine2, 0u);
    let a9 = quadBroadcast(mine2, 1u);
    let a10 = quadBroadcast(mine2, 2u);
    let a11 = quadBroadcast(mine2, 3u);
    let a12 = quadBroadcast(mine3, 0u);
    let a13 = quadBroadcast(mine3, 1u);
    let a14 = quadBroadcast(mine3, 2u);
    let a15 = quadBroadcast(mine3, 3u);
    let bi = (kk * 4u) * n4 + col;
    let b0_0 = b[bi + 0u * n4 + 0u];
    let b1_0 = b[bi + 1u * n4 + 0u];
    let b2_0 = b[bi + 2u * n4 + 0u];
    let b3_0 = b[bi + 3u * n4 + 0u];
    c0_0 += a0.x * b0_0 + a0.y * b1_0 + a0.z * b2_0 + a0.w * b3_0;
    c1_0 += a1.x * b0_0 + a1.y * b1_0 + a1.z * b2_0 + a1.w * b3_0;
    c2_0 += a2.x * b0_0 + a2.y * b1_0 + a2.z * b2_0 + a2.w * b3_0;
    c3_0 += a3.x * b0_0 + a3.y * b1_0 + a3.z * b2_0 + a3.w * b3_0;
    c4_0 += a4.x * b0_0 + a4.y * b1_0 + a4.z * b2_0 + a4.w * b3_0;
    c5_0 += a5.x * b0_0 + a5.y * b1_0 + a5.z * b2_0 + a5.w * b3_0;
    c6_0 += a6.x * b0_0 + a6.y * b1_0 + a6.z * b2_0 + a6.w * b3_0;
    c7_0 += a7.x * b0_0 + a7.y * b1_0 + a7.z * b2_0 + a7.w * b3_0;
    c8_0 += a8.x * b0_0 + a8.y * b1_0 + a8.z * b2_0 + a8.w * b3_0;
    c9_0 += a9.x * b0_0 + a9.y * b1_0 + a9.z * b2_0 + a9.w * b3_0;
    c10_0 += a10.x * b0_0 + a10.y * b1_0 + a10.z * b2_0 + a10.w * b3_0;
    c11_0 += a11.x * b0_0 + a11.y * b1_0 + a11.z * b2_0 + a11.w * b3_0;
    c12_0 += a12.x * b0_0 + a12.y * b1_0 + a12.z * b2_0 + a12.w * b3_0;
    c13_0 += a13.x * b0_0 + a13.y * b1_0 + a13.z * b2_0 + a13.w * b3_0;
    c14_0 += a14.x * b0_0 + a14.y * b1_0 + a14.z * b2_0 + a14.w * b3_0;
    c15_0 += a15.x * b0_0 + a15.y * b1_0 + a15.z * b2_0 + a15.w * b3_0;
  }
  if (id.x * 1u >= n4) {
    return;
  }
  c[(row + 0u) * n4 + col + 0u] = c0_0;
  c[(row + 1u) * n4 + col + 0u] = c1_0;
  c[(row + 2u) * n4 + col + 0u] = c2_0;
  c[(row + 3u) * n4 + col + 0u] = c3_0;
  c[(row + 4u) * n4 + col + 0u] = c4_0;
  c[(row + 5u) * n4 + col + 0u] = c5_0;
  c[(row + 6u) * n4 + col + 0u] = c6_0;
  c[(row + 7u) * n4 + col + 0u] = c7_0;
  c[(row + 8u) * n4 + col + 0u] = c8_0;
  c[(row + 9u) * n4 + col + 0u] = c9_0;
  c[(row + 10u) * n4 + col + 0u] = c10_0;
  c[(row + 11u) * n4 + col + 0u] = c11_0;
  c[(row + 12u) * n4 + col + 0u] = c12_0;
  c[(row + 13u) * n4 + col + 0u] = c13_0;
  c[(row + 14u) * n4 + col + 0u] = c14_0;
  c[(row + 15u) * n4 + col + 0u] = c15_0;
}
