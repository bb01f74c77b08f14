import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.ts';
import { ConfigError } from '../../server/errors.ts';
import { encodeNpy, floatToHalf, halfToFloat, parseNpy } from '../../shaders/npy.ts';

describe('.npy', () => {
  it('round-trips a float32 matrix with a 64-byte aligned header', () => {
    const m = { rows: 3, cols: 5, data: Float32Array.from({ length: 15 }, (_, i) => i - 7.25) };
    const bytes = encodeNpy(m);
    expect((bytes.length - 15 * 4) % 64).toBe(0);
    expect(parseNpy(bytes)).toEqual(m);
  });

  it('writes and reads float16 (the panels of f16 jobs): every half round-trips, floats round to the nearest, ties to even', () => {
    for (let h = 0; h < 0x10000; h++) {
      const x = halfToFloat(h);
      if (Number.isNaN(x)) expect(floatToHalf(x) & 0x7c00).toBe(0x7c00);
      else expect(floatToHalf(x)).toBe(h);
    }
    // Nearest: checked against the two neighbours of the answer, over a spread of magnitudes.
    for (let i = 0; i < 20_000; i++) {
      const x = Math.fround((i % 2 ? -1 : 1) * Math.sin(i) * 2 ** ((i % 44) - 28));
      const h = floatToHalf(x);
      const err = Math.abs(halfToFloat(h) - x);
      for (const nb of [h - 1, h + 1]) if ((nb & 0x7fff) < 0x7c00 && (nb & 0x8000) === (h & 0x8000)) expect(err).toBeLessThanOrEqual(Math.abs(halfToFloat(nb) - x));
    }
    expect(floatToHalf(1 + 2 ** -11)).toBe(floatToHalf(1)); // a tie goes to the even neighbour…
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(floatToHalf(1 + 2 ** -9)); // …up as well as down
    expect(floatToHalf(65520)).toBe(0x7c00); // past the largest half: infinity
    const m = { rows: 2, cols: 3, data: new Float32Array([1, -2.5, 0.1, 65504, 2 ** -24, 1e-9]) };
    const bytes = encodeNpy(m, 'f2');
    expect((bytes.length - 6 * 2) % 64).toBe(0); // 2 bytes an element after a 64-byte aligned header
    expect(parseNpy(bytes)).toEqual({ rows: 2, cols: 3, dtype: 'f2', data: new Float32Array([1, -2.5, 0.0999755859375, 65504, 2 ** -24, 0]) });
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
    expect(() => loadConfig({ SUPERNET_TRUSTED_PROXIES: '10.0.0.5, lb.internal' })).toThrow(/SUPERNET_TRUSTED_PROXIES has "lb.internal"/);
    expect(() => loadConfig({ SUPERNET_S3_BUCKET: 'B' })).toThrow(/SUPERNET_S3_BUCKET=B is not a bucket name/);
    expect(() => loadConfig({ SUPERNET_S3_BUCKET: 'blobs', SUPERNET_S3_ENDPOINT: 'http://minio:9000/path' })).toThrow(/SUPERNET_S3_ENDPOINT=.* must be a URL/);
    expect(loadConfig({ SUPERNET_TRUSTED_PROXIES: '10.0.0.5,::1' }).trustedProxies).toEqual(['10.0.0.5', '::1']);
  });
});
