// C = A·B with a quad of lanes as a 2×2 team: each lane sums a 12×8 block of C, the quad a
// 24×16 tile, and every load of A or B serves two lanes.
//
// Lane q of a quad is (x, y) = (q & 1, q >> 1). The two lanes of a row of the team (same y)
// need the same 12 rows of A: each loads half of them and quadSwapX hands its half to the
// other. The two lanes of a column of the team (same x) need the same 8 columns of B: each
// loads one vec4 of them per row of B and quadSwapY hands it over. A swap is a fixed shuffle
// of one SIMD register on SwiftShader, against a gather (four scalar loads, each behind a
// branch) for a load, and cheaper than quadBroadcast's mask and horizontal OR.
// Per step of 4 along k a lane makes 10 vec4 loads for 384 multiply-adds (quad16x4: 8 for 256).
// Measured (Dawn, SwiftShader, 2 cores, 1536²): 1.35-1.5× quad16x4.
//
// A lane's accumulators are named by whose rows and columns they hold: cM3o is row 3 of its
// own half (M) of the rows, in the column vec4 its partner loads (o). Which rows and columns
// those are depends on the lane, so stores compute them; no select in the loop.
// Quads past the last column compute a clamped copy and skip the store (no lane returns
// early: a quad must stay whole). The runner pads m to 24, n to 16, k to 4. K-splitting
// as in block8x8.wgsl. configs.ts puts "enable subgroups;" and an inputs file (loadA, loadB)
// before this one.
// Assumes a quad's lanes are four consecutive invocations (subgroup lanes follow
// local_invocation_index); autotune's ragged check drops the kernel on an adapter where not.

struct Dims {
  m: u32,
  k: u32,
  n: u32,
  k0: u32,
  k1: u32,
}

override wgX: u32 = 64;

@group(0) @binding(2) var<storage, read_write> c: array<vec4f>;
@group(0) @binding(3) var<uniform> dims: Dims;

@compute @workgroup_size(wgX, 1)
fn main(@builtin(global_invocation_id) id: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let n4 = dims.n / 4u;
  let k4 = dims.k / 4u;
  let x = lane & 1u;
  let y = (lane >> 1u) & 1u;
  let tileCol = min(id.x / 4u, n4 / 4u - 1u) * 4u;
  let tileRow = id.y * 24u + y * 12u;
  let rowM = tileRow + x * 6u;
  let rowO = tileRow + (1u - x) * 6u;
  let colM = tileCol + x * 2u + y;
  let colO = tileCol + x * 2u + (1u - y);
  var cM0m = vec4f();
  var cM0o = vec4f();
  var cO0m = vec4f();
  var cO0o = vec4f();
  var cM1m = vec4f();
  var cM1o = vec4f();
  var cO1m = vec4f();
  var cO1o = vec4f();
  var cM2m = vec4f();
  var cM2o = vec4f();
  var cO2m = vec4f();
  var cO2o = vec4f();
  var cM3m = vec4f();
  var cM3o = vec4f();
  var cO3m = vec4f();
  var cO3o = vec4f();
  var cM4m = vec4f();
  var cM4o = vec4f();
  var cO4m = vec4f();
  var cO4o = vec4f();
  var cM5m = vec4f();
  var cM5o = vec4f();
  var cO5m = vec4f();
  var cO5o = vec4f();
  if (dims.k0 > 0u) {
    cM0m = c[(rowM + 0u) * n4 + colM];
    cM0o = c[(rowM + 0u) * n4 + colO];
    cO0m = c[(rowO + 0u) * n4 + colM];
    cO0o = c[(rowO + 0u) * n4 + colO];
    cM1m = c[(rowM + 1u) * n4 + colM];
    cM1o = c[(rowM + 1u) * n4 + colO];
    cO1m = c[(rowO + 1u) * n4 + colM];
    cO1o = c[(rowO + 1u) * n4 + colO];
    cM2m = c[(rowM + 2u) * n4 + colM];
    cM2o = c[(rowM + 2u) * n4 + colO];
    cO2m = c[(rowO + 2u) * n4 + colM];
    cO2o = c[(rowO + 2u) * n4 + colO];
    cM3m = c[(rowM + 3u) * n4 + colM];
    cM3o = c[(rowM + 3u) * n4 + colO];
    cO3m = c[(rowO + 3u) * n4 + colM];
    cO3o = c[(rowO + 3u) * n4 + colO];
    cM4m = c[(rowM + 4u) * n4 + colM];
    cM4o = c[(rowM + 4u) * n4 + colO];
    cO4m = c[(rowO + 4u) * n4 + colM];
    cO4o = c[(rowO + 4u) * n4 + colO];
    cM5m = c[(rowM + 5u) * n4 + colM];
    cM5o = c[(rowM + 5u) * n4 + colO];
    cO5m = c[(rowO + 5u) * n4 + colM];
    cO5o = c[(rowO + 5u) * n4 + colO];
  }
  for (var kk = dims.k0 / 4u; kk < dims.k1 / 4u; kk++) {
    let bm0 = loadB((kk * 4u + 0u) * n4 + colM);
    let bm1 = loadB((kk * 4u + 1u) * n4 + colM);
    let bm2 = loadB((kk * 4u + 2u) * n4 + colM);
    let bm3 = loadB((kk * 4u + 3u) * n4 + colM);
    let bo0 = quadSwapY(bm0);
    let bo1 = quadSwapY(bm1);
    let bo2 = quadSwapY(bm2);
    let bo3 = quadSwapY(bm3);
    let aM0 = loadA((rowM + 0u) * k4 + kk);
    let aO0 = quadSwapX(aM0);
    cM0m += aM0.x * bm0 + aM0.y * bm1 + aM0.z * bm2 + aM0.w * bm3;
    cM0o += aM0.x * bo0 + aM0.y * bo1 + aM0.z * bo2 + aM0.w * bo3;
    cO0m += aO0.x * bm0 + aO0.y * bm1 + aO0.z * bm2 + aO0.w * bm3;
    cO0o += aO0.x * bo0 + aO0.y * bo1 + aO0.z * bo2 + aO0.w * bo3;
    let aM1 = loadA((rowM + 1u) * k4 + kk);
    let aO1 = quadSwapX(aM1);
    cM1m += aM1.x * bm0 + aM1.y * bm1 + aM1.z * bm2 + aM1.w * bm3;
    cM1o += aM1.x * bo0 + aM1.y * bo1 + aM1.z * bo2 + aM1.w * bo3;
    cO1m += aO1.x * bm0 + aO1.y * bm1 + aO1.z * bm2 + aO1.w * bm3;
    cO1o += aO1.x * bo0 + aO1.y * bo1 + aO1.z * bo2 + aO1.w * bo3;
    let aM2 = loadA((rowM + 2u) * k4 + kk);
    let aO2 = quadSwapX(aM2);
    cM2m += aM2.x * bm0 + aM2.y * bm1 + aM2.z * bm2 + aM2.w * bm3;
    cM2o += aM2.x * bo0 + aM2.y * bo1 + aM2.z * bo2 + aM2.w * bo3;
    cO2m += aO2.x * bm0 + aO2.y * bm1 + aO2.z * bm2 + aO2.w * bm3;
    cO2o += aO2.x * bo0 + aO2.y * bo1 + aO2.z * bo2 + aO2.w * bo3;
    let aM3 = loadA((rowM + 3u) * k4 + kk);
    let aO3 = quadSwapX(aM3);
    cM3m += aM3.x * bm0 + aM3.y * bm1 + aM3.z * bm2 + aM3.w * bm3;
    cM3o += aM3.x * bo0 + aM3.y * bo1 + aM3.z * bo2 + aM3.w * bo3;
    cO3m += aO3.x * bm0 + aO3.y * bm1 + aO3.z * bm2 + aO3.w * bm3;
    cO3o += aO3.x * bo0 + aO3.y * bo1 + aO3.z * bo2 + aO3.w * bo3;
    let aM4 = loadA((rowM + 4u) * k4 + kk);
    let aO4 = quadSwapX(aM4);
    cM4m += aM4.x * bm0 + aM4.y * bm1 + aM4.z * bm2 + aM4.w * bm3;
    cM4o += aM4.x * bo0 + aM4.y * bo1 + aM4.z * bo2 + aM4.w * bo3;
    cO4m += aO4.x * bm0 + aO4.y * bm1 + aO4.z * bm2 + aO4.w * bm3;
    cO4o += aO4.x * bo0 + aO4.y * bo1 + aO4.z * bo2 + aO4.w * bo3;
    let aM5 = loadA((rowM + 5u) * k4 + kk);
    let aO5 = quadSwapX(aM5);
    cM5m += aM5.x * bm0 + aM5.y * bm1 + aM5.z * bm2 + aM5.w * bm3;
    cM5o += aM5.x * bo0 + aM5.y * bo1 + aM5.z * bo2 + aM5.w * bo3;
    cO5m += aO5.x * bm0 + aO5.y * bm1 + aO5.z * bm2 + aO5.w * bm3;
    cO5o += aO5.x * bo0 + aO5.y * bo1 + aO5.z * bo2 + aO5.w * bo3;
  }
  if (id.x / 4u >= n4 / 4u) {
    return;
  }
  c[(rowM + 0u) * n4 + colM] = cM0m;
  c[(rowM + 0u) * n4 + colO] = cM0o;
  c[(rowO + 0u) * n4 + colM] = cO0m;
  c[(rowO + 0u) * n4 + colO] = cO0o;
  c[(rowM + 1u) * n4 + colM] = cM1m;
  c[(rowM + 1u) * n4 + colO] = cM1o;
  c[(rowO + 1u) * n4 + colM] = cO1m;
  c[(rowO + 1u) * n4 + colO] = cO1o;
  c[(rowM + 2u) * n4 + colM] = cM2m;
  c[(rowM + 2u) * n4 + colO] = cM2o;
  c[(rowO + 2u) * n4 + colM] = cO2m;
  c[(rowO + 2u) * n4 + colO] = cO2o;
  c[(rowM + 3u) * n4 + colM] = cM3m;
  c[(rowM + 3u) * n4 + colO] = cM3o;
  c[(rowO + 3u) * n4 + colM] = cO3m;
  c[(rowO + 3u) * n4 + colO] = cO3o;
  c[(rowM + 4u) * n4 + colM] = cM4m;
  c[(rowM + 4u) * n4 + colO] = cM4o;
  c[(rowO + 4u) * n4 + colM] = cO4m;
  c[(rowO + 4u) * n4 + colO] = cO4o;
  c[(rowM + 5u) * n4 + colM] = cM5m;
  c[(rowM + 5u) * n4 + colO] = cM5o;
  c[(rowO + 5u) * n4 + colM] = cO5m;
  c[(rowO + 5u) * n4 + colO] = cO5o;
}
