/**
 * `.npy` (NumPy format 1.0-3.0) for 2-D float32 matrices, the way tensors travel, and float16
 * ('<f2') ones, the half-size panels of f16 jobs; and arrays of any shape of float32, int32 or
 * uint32 (developers' own kernels' inputs and outputs). Isomorphic: no Node APIs, so the browser
 * node and the agent use it too.
 */

import { ownBytes } from './bytes.ts';

export class NpyError extends Error {}

export interface Matrix {
  rows: number;
  cols: number;
  /** The values; a float16 file's are widened, exactly. */
  data: Float32Array;
  /** 'f2' where the file held float16. */
  dtype?: Dtype;
}

export type Dtype = 'f4' | 'f2';
const dtypeBytes = { f4: 4, f2: 2 } as const;

const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** A `.npy` file's header fields and where its data starts; says what is wrong otherwise. */
export function readHeader(bytes: Uint8Array): { descr: string; shape: number[]; shapeText: string; dataStart: number } {
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) {
    throw new NpyError('not a .npy file (it does not begin with the NumPy signature); save arrays with numpy.save');
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  if (major < 1 || major > 3) throw new NpyError(`.npy version ${major} is not supported (1, 2 and 3 are)`);
  if (headerStart + headerLen > bytes.length) throw new NpyError('.npy header is truncated');
  const header = new TextDecoder().decode(bytes.subarray(headerStart, headerStart + headerLen));
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw new NpyError('.npy header is malformed');
  if (fortran === 'True') throw new NpyError('.npy is in Fortran order; save a C-contiguous array (numpy.ascontiguousarray)');
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new NpyError(`.npy shape is (${shapeText.trim()}): not a shape`);
  return { descr, shape, shapeText, dataStart: headerStart + headerLen };
}

/** Reads a C-order little-endian float32 (or float16) 2-D `.npy`; says what is wrong otherwise. */
export function parseNpy(bytes: Uint8Array): Matrix {
  const { descr, shape, shapeText, dataStart } = readHeader(bytes);
  if (descr !== '<f4' && descr !== '<f2') throw new NpyError(`.npy dtype is ${descr}; float32 ('<f4') is required: convert with a.astype(numpy.float32)`);
  const dtype: Dtype = descr === '<f2' ? 'f2' : 'f4';
  if (shape.length !== 2 || shape.some((d) => d < 1)) {
    throw new NpyError(`.npy shape is (${shapeText.trim()}); a 2-D matrix with both sides at least 1 is required`);
  }
  const [rows, cols] = shape as [number, number];
  const expected = rows * cols * dtypeBytes[dtype];
  if (bytes.length - dataStart !== expected) {
    throw new NpyError(`.npy data is ${bytes.length - dataStart} bytes where shape (${rows}, ${cols}) ${dtype === 'f2' ? 'float16' : 'float32'} needs ${expected}: the file is truncated or damaged`);
  }
  const data = new Float32Array(rows * cols);
  if (dtype === 'f4') {
    new Uint8Array(data.buffer).set(bytes.subarray(dataStart));
    return { rows, cols, data };
  }
  const halves = new Uint16Array(rows * cols);
  new Uint8Array(halves.buffer).set(bytes.subarray(dataStart));
  for (let i = 0; i < halves.length; i++) data[i] = halfToFloat(halves[i]!);
  return { rows, cols, data, dtype };
}

/** Element types of 32-bit arrays, as WGSL names them and as .npy does. */
export type Element = 'f32' | 'i32' | 'u32';
const descrs: Record<Element, string> = { f32: '<f4', i32: '<i4', u32: '<u4' };

/** An array of any shape of 32-bit elements: its element type and its bytes (little-endian, C order). */
export interface NpyArray {
  shape: number[];
  element: Element;
  bytes: Uint8Array;
}

/** Reads a `.npy` of float32, int32 or uint32 elements, any shape. */
export function parseNpyArray(bytes: Uint8Array): NpyArray {
  const { descr, shape, shapeText, dataStart } = readHeader(bytes);
  const element = (Object.keys(descrs) as Element[]).find((e) => descrs[e] === descr);
  if (!element) throw new NpyError(`.npy dtype is ${descr}; float32 ('<f4'), int32 ('<i4') or uint32 ('<u4') is required`);
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length - dataStart !== count * 4) throw new NpyError(`.npy data is ${bytes.length - dataStart} bytes where shape (${shapeText.trim()}) of ${element} needs ${count * 4}: the file is truncated or damaged`);
  return { shape, element, bytes: ownBytes(bytes.subarray(dataStart)) };
}

/** Writes an array as `.npy` version 1.0, header padded to 64 bytes. */
export function encodeNpyArray({ shape, element, bytes }: NpyArray): Uint8Array {
  return encodeNpyRaw(descrs[element], shape, bytes);
}

/** Writes bytes as a `.npy` of any dtype NumPy names (`descr`: '|u1', '<i8'…) and shape. */
export function encodeNpyRaw(descr: string, shape: number[], body: Uint8Array): Uint8Array {
  return withHeader(`{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`, body);
}

function withHeader(header: string, body: Uint8Array): Uint8Array {
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + body.byteLength);
  out.set(magic);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(body, 10 + header.length);
  return out;
}

/** Writes a matrix as `.npy` version 1.0, header padded to 64 bytes: float32, or float16 (rounded to nearest even). */
export function encodeNpy({ rows, cols, data }: Matrix, dtype: Dtype = 'f4'): Uint8Array {
  const body = dtype === 'f2' ? new Uint8Array(toHalves(data).buffer) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return withHeader(`{'descr': '<${dtype}', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`, body);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits to the number, exactly. */
export function halfToFloat(h: number): number {
  const exponent = (h >> 10) & 0x1f, fraction = h & 0x3ff;
  const sign = h & 0x8000 ? -1 : 1;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * (1024 + fraction) * 2 ** (exponent - 25);
}

/** A float32 to binary16 bits, rounded to nearest even (overflow to ±∞), as GPUs convert. */
export function floatToHalf(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff, mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal: zero
    const m = mantissa | 0x800000, shift = 14 - e;
    const half = 1 << (shift - 1), rest = m & ((1 << shift) - 1);
    let out = m >>> shift;
    if (rest > half || (rest === half && out & 1)) out++;
    return sign | out;
  }
  let out = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && out & 1)) out++; // a carry into the exponent is right, up to ∞
  return sign | out;
}

/** The matrix with every element rounded to the nearest float16: what an f16 kernel multiplies. */
export function roundedToHalf(m: Matrix): Matrix {
  const data = new Float32Array(m.data.length);
  for (let i = 0; i < data.length; i++) data[i] = halfToFloat(floatToHalf(m.data[i]!));
  return { rows: m.rows, cols: m.cols, data, dtype: 'f2' };
}

/** Every element as binary16 bits. */
export function toHalves(data: Float32Array): Uint16Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = floatToHalf(data[i]!);
  return out;
}
