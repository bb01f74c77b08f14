/**
 * `.npy` (NumPy format 1.0-3.0) for 2-D float32 matrices, the way tensors travel.
 * Isomorphic: no Node APIs, so the browser node and the agent use it too.
 */

export class NpyError extends Error {}

export interface Matrix {
  rows: number;
  cols: number;
  data: Float32Array;
}

const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Reads a C-order little-endian float32 2-D `.npy`; says what is wrong otherwise. */
export function parseNpy(bytes: Uint8Array): Matrix {
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) {
    throw new NpyError('not a .npy file (it does not start with \\x93NUMPY); save arrays with numpy.save');
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
  if (descr !== '<f4') throw new NpyError(`.npy dtype is ${descr}; float32 ('<f4') is required: convert with a.astype(numpy.float32)`);
  if (fortran === 'True') throw new NpyError('.npy is in Fortran order; save a C-contiguous array (numpy.ascontiguousarray)');
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (shape.length !== 2 || shape.some((d) => !Number.isSafeInteger(d) || d < 1)) {
    throw new NpyError(`.npy shape is (${shapeText.trim()}); a 2-D matrix with both sides at least 1 is required`);
  }
  const [rows, cols] = shape as [number, number];
  const dataStart = headerStart + headerLen;
  const expected = rows * cols * 4;
  if (bytes.length - dataStart !== expected) {
    throw new NpyError(`.npy data is ${bytes.length - dataStart} bytes where shape (${rows}, ${cols}) float32 needs ${expected}: the file is truncated or damaged`);
  }
  const data = new Float32Array(rows * cols);
  new Uint8Array(data.buffer).set(bytes.subarray(dataStart));
  return { rows, cols, data };
}

/** Writes a float32 matrix as `.npy` version 1.0, header padded to 64 bytes. */
export function encodeNpy({ rows, cols, data }: Matrix): Uint8Array {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`;
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(magic);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}
