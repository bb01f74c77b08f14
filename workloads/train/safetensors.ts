/**
 * `.safetensors` (Hugging Face's format: an 8-byte little-endian header length, a JSON header
 * naming each tensor's dtype, shape and byte range, then the bytes), float32 only: what `train`
 * returns and `infer` takes. Isomorphic.
 */

import { floatsOf } from '../../shaders/bytes.ts';

export interface Tensor {
  shape: number[];
  data: Float32Array;
}

export class SafetensorsError extends Error {}

export function encodeSafetensors(tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // the data starts 8-byte aligned
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const t of Object.values(tensors)) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

export function decodeSafetensors(bytes: Uint8Array): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new SafetensorsError('not a .safetensors file (shorter than its header length)');
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (length > bytes.length - 8 || length > 100 * 1024 * 1024) throw new SafetensorsError('not a .safetensors file (its header length runs past the end)');
  let header: Record<string, { dtype?: string; shape?: number[]; data_offsets?: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  } catch {
    throw new SafetensorsError('not a .safetensors file (its header is not JSON)');
  }
  const body = bytes.subarray(8 + length);
  const tensors: Record<string, Tensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = t as unknown as Record<string, string>;
      continue;
    }
    if (t.dtype !== 'F32') throw new SafetensorsError(`tensor ${name} is ${t.dtype}; float32 (F32) is required`);
    const [from, to] = t.data_offsets ?? [0, -1];
    const count = (t.shape ?? []).reduce((a, b) => a * b, 1);
    if (!(from >= 0 && to <= body.length && to - from === count * 4)) throw new SafetensorsError(`tensor ${name}: its byte range does not fit its shape or the file`);
    tensors[name] = { shape: t.shape!, data: floatsOf(body.subarray(from, to)) };
  }
  return { tensors, metadata };
}
