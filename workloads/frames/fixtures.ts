import { encode as encodePng } from 'fast-png';
import { zipSync } from 'fflate';

/**
 * Test clips: frames of a moving picture (a gradient sky, a disc sliding across, a striped
 * band), different in every frame and nowhere flat for long, as RGBA or RGB PNGs.
 */
export function clipFrame(i: number, width: number, height: number, channels: 3 | 4 = 4): Uint8Array {
  const data = new Uint8Array(width * height * channels);
  const [cx, cy, r] = [width * (0.2 + 0.07 * i), height * 0.5, Math.min(width, height) * 0.25];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * channels;
      const disc = (x - cx) ** 2 + (y - cy) ** 2 < r * r;
      const band = y > height * 0.75 && Math.floor((x + 3 * i) / 4) % 2 === 0;
      data[o] = disc ? 230 : band ? 40 : Math.round((255 * x) / width);
      data[o + 1] = disc ? 180 - 10 * i : band ? 200 : Math.round((255 * y) / height);
      data[o + 2] = disc ? 40 : band ? 90 : 160 + ((x * y + 7 * i) % 64);
      if (channels === 4) data[o + 3] = disc ? 255 : 200 + (x % 56);
    }
  }
  return encodePng({ width, height, data, channels, depth: 8 });
}

export function clipZip(count: number, width: number, height: number, extra: Record<string, Uint8Array> = {}): Uint8Array {
  const files: Record<string, Uint8Array> = { ...extra };
  // Named so that a plain sort would misorder them (frame_10 before frame_2).
  for (let i = 0; i < count; i++) files[`clip/frame_${i + 1}.png`] = clipFrame(i, width, height);
  return zipSync(files);
}

/** A warm grade as a .cube file: reds lifted, blues cut, a touch of contrast. */
export function warmCube(size = 17): string {
  const lines = ['# a warm grade', 'TITLE "warm"', `LUT_3D_SIZE ${size}`, 'DOMAIN_MIN 0 0 0', 'DOMAIN_MAX 1 1 1'];
  for (let b = 0; b < size; b++) {
    for (let g = 0; g < size; g++) {
      for (let r = 0; r < size; r++) {
        const [R, G, B] = [r, g, b].map((v) => v / (size - 1)) as [number, number, number];
        const s = (v: number) => v * v * (3 - 2 * v);
        lines.push([Math.min(1, 0.1 + 0.95 * s(R)), 0.9 * s(G) + 0.05, 0.75 * B].map((v) => v.toFixed(6)).join(' '));
      }
    }
  }
  return lines.join('\n') + '\n';
}
