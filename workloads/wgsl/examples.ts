/**
 * Kernels written to the contract (kernel.ts), for the docs, the portal's starting point and
 * the tests: SAXPY (out = a·x + y) and an integer Mandelbrot (escape iterations over a grid).
 */
export const saxpy = `// out = a·x + y over every element: inputs x and y (f32), the output f32.
struct Range { first: u32, begin: u32, end: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> range: Range;

const a = 2.5;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let i = range.begin + id.x;
  if (i >= range.end) { return; }
  let g = range.first + i;
  out[i] = a * x[g] + y[g];
}
`;

export const mandelbrotSize = { width: 256, height: 192, iterations: 200 };

/** Escape iterations of each point of a width × height grid over [-2.2, 0.8] × [-1.2, 1.2]; no inputs, the output u32. */
export const mandelbrot = `struct Range { first: u32, begin: u32, end: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<uniform> range: Range;

const width = ${mandelbrotSize.width}u;
const height = ${mandelbrotSize.height}u;
const iterations = ${mandelbrotSize.iterations}u;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let i = range.begin + id.x;
  if (i >= range.end) { return; }
  let g = range.first + i;
  let c = vec2f(-2.2 + 3.0 * f32(g % width) / f32(width), -1.2 + 2.4 * f32(g / width) / f32(height));
  var z = vec2f(0.0, 0.0);
  var n = 0u;
  while (n < iterations && dot(z, z) <= 4.0) {
    z = vec2f(z.x * z.x - z.y * z.y, 2.0 * z.x * z.y) + c;
    n++;
  }
  out[i] = n;
}
`;

/** The Mandelbrot kernel's iterations on the CPU, in float32 step for step. */
export function mandelbrotReference(): Uint32Array {
  const { width, height, iterations } = mandelbrotSize;
  const f = Math.fround;
  const out = new Uint32Array(width * height);
  for (let g = 0; g < out.length; g++) {
    const cx = f(f(-2.2) + f(f(3 * (g % width)) / width)), cy = f(f(-1.2) + f(f(f(2.4) * Math.floor(g / width)) / height));
    let [x, y, n] = [0, 0, 0];
    while (n < iterations && f(f(x * x) + f(y * y)) <= 4) {
      [x, y] = [f(f(f(x * x) - f(y * y)) + cx), f(f(f(2 * x) * y) + cy)];
      n++;
    }
    out[g] = n;
  }
  return out;
}

/** A kernel whose loop never ends for every element past the first 100 of the output (it has no way out there). */
export const endless = `struct Range { first: u32, begin: u32, end: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<uniform> range: Range;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let i = range.begin + id.x;
  if (i >= range.end) { return; }
  let g = range.first + i;
  var n = 0u;
  loop {
    if (g < 100u && n >= 10u) { break; }
    n = n + 1u;
  }
  out[i] = n;
}
`;
