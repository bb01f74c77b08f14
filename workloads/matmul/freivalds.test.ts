import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeNpy, parseNpy, type Matrix } from '../../shaders/npy.ts';
import { freivaldsCheck, freivaldsTolerance } from './freivalds.ts';
import { mulberry32 } from '../../shaders/random.ts';

/** A small seeded PRNG, so a failure can be replayed. */
const rng = mulberry32;

type Order = 'forward' | 'reverse' | 'pairwise' | 'fma';

/** C = A·B as a float32 kernel would compute it, in one of several summation orders. */
function f32Product(a: Matrix, b: Matrix, order: Order): Matrix {
  const { rows: r, cols: K } = a, n = b.cols;
  const out = new Float32Array(r * n);
  const f = Math.fround;
  const terms = new Float32Array(K);
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < n; j++) {
      for (let p = 0; p < K; p++) terms[p] = f(a.data[i * K + p]! * b.data[p * n + j]!);
      let s = 0;
      if (order === 'forward') for (let p = 0; p < K; p++) s = f(s + terms[p]!);
      else if (order === 'reverse') for (let p = K - 1; p >= 0; p--) s = f(s + terms[p]!);
      else if (order === 'fma') for (let p = 0; p < K; p++) s = f(s + a.data[i * K + p]! * b.data[p * n + j]!);
      else {
        const level = Float32Array.from(terms);
        for (let len = K; len > 1; len = Math.ceil(len / 2)) for (let q = 0; q < len / 2; q++) level[q] = q * 2 + 1 < len ? f(level[2 * q]! + level[2 * q + 1]!) : level[2 * q]!;
        s = K ? level[0]! : 0;
      }
      out[i * n + j] = s;
    }
  }
  return { rows: r, cols: n, data: out };
}

type Kind = 'signed' | 'positive' | 'scaled';

function matrix(rows: number, cols: number, next: () => number, kind: Kind): Matrix {
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const scale = kind === 'scaled' ? 10 ** Math.floor(next() * 7 - 3) : 1;
    for (let j = 0; j < cols; j++) data[i * cols + j] = (kind === 'positive' ? next() : next() * 2 - 1) * scale;
  }
  return { rows, cols, data };
}

/** A random honest tile: shapes up to 12×12 with K up to 400, data of every kind. */
function honestTile(seed: number) {
  const next = rng(seed);
  const r = 1 + Math.floor(next() * 12), c = 1 + Math.floor(next() * 12), K = 1 + Math.floor(next() * 400);
  const kinds: Kind[] = ['signed', 'positive', 'scaled'];
  const orders: Order[] = ['forward', 'reverse', 'pairwise', 'fma'];
  const kind = kinds[seed % 3]!;
  const a = matrix(r, K, next, kind), b = matrix(K, c, next, kind === 'scaled' ? 'signed' : kind);
  return { a, b, c: f32Product(a, b, orders[(seed >> 2) % 4]!), next };
}

describe("Freivalds' check", () => {
  it('raises no false alarm on 10,000 honest float32 tiles (every summation order, signed, positive and badly scaled data)', () => {
    let worst = 0;
    for (let seed = 0; seed < 10_000; seed++) {
      const { a, b, c } = honestTile(seed);
      const outcome = freivaldsCheck(a, b, c, randomBytes, 2);
      expect(outcome.ok, `seed ${seed}`).toBe(true);
      worst = Math.max(worst, outcome.worst);
    }
    expect(worst).toBeLessThan(1 / 15); // measured 0.049: the margin the tolerance's comment states
  });

  it('misses none of 10,000 tiles with one element off by just over 2·t_i', () => {
    for (let seed = 0; seed < 10_000; seed++) {
      const { a, b, c, next } = honestTile(seed + 1_000_000);
      const t = freivaldsTolerance(a, b, c);
      const i = Math.floor(next() * c.rows), j = Math.floor(next() * c.cols);
      const lie = { ...c, data: Float32Array.from(c.data) };
      const sign = next() < 0.5 ? -1 : 1;
      const at = i * c.cols + j, honest = c.data[at]!;
      // Just past 2·t_i, nudged by an ulp at a time until float32 rounding keeps it past.
      let delta = 2 * t[i]! * (1 + 1e-5);
      while (Math.abs(Math.fround(honest + sign * delta) - honest) <= 2 * t[i]!) delta += Math.abs(honest) * 2 ** -23 + 1e-45;
      lie.data[at] = honest + sign * delta;
      expect(Math.abs(lie.data[i * c.cols + j]! - c.data[i * c.cols + j]!), 'the planted error survives float32 rounding').toBeGreaterThan(2 * t[i]!);
      expect(freivaldsCheck(a, b, lie, randomBytes, 1).ok, `seed ${seed}`).toBe(false);
    }
  });

  it('raises no false alarm on 2,000 honest tiles of f16 jobs: float16 panels, float32 sums', () => {
    for (let seed = 0; seed < 2_000; seed++) {
      const tile = honestTile(seed + 2_000_000);
      // The panels as the coordinator stores them for an f16 job, read back as a node and the check do.
      const [a, b] = [parseNpy(encodeNpy(tile.a, 'f2')), parseNpy(encodeNpy(tile.b, 'f2'))];
      const c = f32Product(a, b, (['forward', 'reverse', 'pairwise', 'fma'] as const)[seed % 4]!);
      expect(freivaldsCheck(a, b, c, randomBytes, 2).ok, `seed ${seed}`).toBe(true);
    }
  });

  it('catches a 1% bias on every element, noise, NaN and a wrong shape', () => {
    const { a, b, c } = honestTile(7);
    const biased = { ...c, data: c.data.map((v) => v * 1.01) };
    expect(freivaldsCheck(a, b, biased, randomBytes).ok).toBe(false);
    const noisy = { ...c, data: c.data.map((v) => v + (Math.random() - 0.5)) };
    expect(freivaldsCheck(a, b, noisy, randomBytes).ok).toBe(false);
    const nan = { ...c, data: Float32Array.from(c.data) };
    nan.data[0] = NaN;
    expect(freivaldsCheck(a, b, nan, randomBytes).ok).toBe(false);
    expect(freivaldsCheck(a, b, { ...c, rows: c.rows + 1 }, randomBytes).ok).toBe(false);
  });
});
