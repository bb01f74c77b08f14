import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.ts';
import { ConfigError } from '../../server/errors.ts';
import { encodeNpy, parseNpy } from '../../shaders/npy.ts';

describe('.npy', () => {
  it('round-trips a float32 matrix with a 64-byte aligned header', () => {
    const m = { rows: 3, cols: 5, data: Float32Array.from({ length: 15 }, (_, i) => i - 7.25) };
    const bytes = encodeNpy(m);
    expect((bytes.length - 15 * 4) % 64).toBe(0);
    expect(parseNpy(bytes)).toEqual(m);
  });

  it('says what is wrong with a 1-D array, Fortran order and a bad magic', () => {
    const header = (h: string) => {
      const text = h.padEnd(118, ' ') + '\n';
      const out = new Uint8Array(10 + text.length + 8);
      out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
      new DataView(out.buffer).setUint16(8, text.length, true);
      out.set(new TextEncoder().encode(text), 10);
      return out;
    };
    expect(() => parseNpy(header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"))).toThrow(/2-D matrix/);
    expect(() => parseNpy(header("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 2), }"))).toThrow(/Fortran order/);
    expect(() => parseNpy(new Uint8Array(20))).toThrow(/not a \.npy file/);
  });
});

describe('configuration', () => {
  it('has working defaults', () => {
    expect(loadConfig({})).toMatchObject({ port: 8787, databaseUrl: null, blobBytesMax: 256 * 1024 * 1024, leaseTtlMs: 30_000 });
  });

  it('fails with a sentence that says the fix', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(ConfigError);
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT=eighty is not valid: set it to a whole number from 0 to 65535/);
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/must start with postgres:\/\//);
    expect(() => loadConfig({ SUPERNET_ORIGINS: 'example.com' })).toThrow(/origins like https:\/\/example.com/);
  });
});
