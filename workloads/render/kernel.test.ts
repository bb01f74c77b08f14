import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDawnDevice, type DawnDevice } from '../../server/agent/dawn.ts';
import { compileScene } from './compiled.ts';
import { renderTileGpu } from './gpu.ts';
import { builtinScenes } from './scene.ts';
import { traceTile, type TileParams } from './trace.ts';

let gpu: DawnDevice;
beforeAll(async () => {
  gpu = await openDawnDevice();
});
afterAll(() => gpu?.device.destroy());

/** Pixels whose sums agree within a relative 10⁻³ (float32 against float64 arithmetic), of all. */
function agreeing(x: Float32Array, y: Float32Array) {
  let same = 0;
  for (let i = 0; i < x.length; i += 3) {
    let ok = true;
    for (let k = 0; k < 3; k++) if (Math.abs(x[i + k]! - y[i + k]!) > 1e-3 * Math.max(1, Math.abs(y[i + k]!))) ok = false;
    if (ok) same++;
  }
  return same / (x.length / 3);
}

describe('the path tracer on Dawn (SwiftShader)', () => {
  for (const name of Object.keys(builtinScenes)) {
    it(`renders a tile of ${name} as the CPU reference does, pixel for pixel but for a few paths that part on a rounding`, async () => {
      const scene = compileScene(builtinScenes[name]!());
      const tile: TileParams = { width: 64, height: 48, x0: 20, y0: 10, w: 13, h: 11, s0: 3, s1: 7, seed: 11 };
      const stats = { dispatches: 0, maxDispatchMs: 0 };
      // Two samples a dispatch at most: the sums add across dispatches.
      const got = await renderTileGpu(gpu.device, scene, tile, { dispatchFlopsMax: 2 * 13 * 11 * 20_000, stats });
      expect(stats.dispatches).toBe(2);
      const want = traceTile(scene, tile);
      const share = agreeing(got, want);
      console.log(`[figures] render-agreement ${name}: ${share.toFixed(3)} of pixels within 1e-3`);
      expect(share).toBeGreaterThan(0.95);
      // Not trivially so: the tile has light in it, and another seed renders it otherwise.
      expect(want.some((v) => v > 0)).toBe(true);
      expect(agreeing(await renderTileGpu(gpu.device, scene, { ...tile, seed: 12 }), want)).toBeLessThan(0.9);
    });
  }
});
