import { describe, expect, it } from 'vitest';
import { encodeNpyRaw } from '../../shaders/npy.ts';
import { dataset, gather } from './data.ts';
import { decodeSafetensors, encodeSafetensors } from './safetensors.ts';

const f32 = (values: number[]) => new Uint8Array(new Float32Array(values).buffer);

describe('train data from the blob store', () => {
  // The store hands out Node Buffers; small ones are views into a shared pool, and a Buffer's
  // slice() does not copy: reading `.buffer` of one gets the pool's other bytes too.
  it('reads float32 features, labels and .safetensors from pooled Buffers as they are', () => {
    const features = Buffer.from(encodeNpyRaw('<f4', [2, 3], f32([1, 2, 3, 4, 5, 6])));
    const labels = Buffer.from(encodeNpyRaw('<i8', [2], new Uint8Array(new BigInt64Array([1n, 0n]).buffer)));
    expect(features.byteOffset + features.buffer.byteLength).not.toBe(features.length); // a view into the pool
    const d = dataset(features, labels);
    expect([d.rows, d.width, d.classes, [...d.labels]]).toEqual([2, 3, 2, [1, 0]]);
    expect([...gather(d, [1, 0]).x]).toEqual([4, 5, 6, 1, 2, 3]);
    const st = Buffer.from(encodeSafetensors({ w: { shape: [2, 2], data: new Float32Array([1, -2, 3, -4]) } }));
    expect([...decodeSafetensors(st).tensors.w!.data]).toEqual([1, -2, 3, -4]);
  });
});
