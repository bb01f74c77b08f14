import parseCube from 'parse-cube-lut';
import type { Lut } from './filters.ts';

/** Most entries a side of a 3D LUT may have (65 is the largest in common use: 65³ entries). */
export const lutSizeMax = 65;

export class LutError extends Error {}

/** A .cube file (IRIDAS/Adobe, read by parse-cube-lut) as a 3D LUT; what is wrong with it otherwise. */
export function readCube(bytes: Uint8Array): Lut {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  let cube: ReturnType<typeof parseCube>;
  try {
    cube = parseCube(text);
  } catch (err) {
    throw new LutError(`it is not a .cube LUT (${err instanceof Error ? err.message : String(err)})`);
  }
  if (cube.type === '1D') throw new LutError('it is a 1D LUT: colour grading takes a 3D LUT (LUT_3D_SIZE)');
  if (cube.type !== '3D') throw new LutError('it has no LUT_3D_SIZE line: is it a .cube file?');
  const n = cube.size;
  if (!(Number.isInteger(n) && n >= 2 && n <= lutSizeMax)) throw new LutError(`LUT_3D_SIZE is ${n}: it must be a whole number from 2 to ${lutSizeMax}`);
  if (cube.data.length !== n ** 3) throw new LutError(`LUT_3D_SIZE ${n} needs ${n ** 3} entries; the file has ${cube.data.length}`);
  const [lo, hi] = cube.domain;
  if (!(lo.length === 3 && hi.length === 3 && lo.every((v, k) => Number.isFinite(v) && Number.isFinite(hi[k]!) && v < hi[k]!))) throw new LutError('its DOMAIN_MIN and DOMAIN_MAX must be three numbers each, every minimum below its maximum');
  const table = new Float32Array(n ** 3 * 3);
  for (const [i, row] of cube.data.entries()) {
    if (row.length !== 3 || !row.every(Number.isFinite)) throw new LutError(`entry ${i + 1} is "${row.join(' ')}": each entry is three numbers (R G B)`);
    table.set(row, i * 3);
  }
  return { size: n, domain: [lo, hi], table };
}
