import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDawnDevice, type DawnDevice } from '../../server/agent/dawn.ts';
import { filterFrame, gaussian, type Stage } from './filters.ts';
import { clipFrame, warmCube } from './fixtures.ts';
import { filterFrameGpu } from './gpu.ts';
import { level, readFrame } from './image.ts';
import { readCube } from './lut.ts';

let gpu: DawnDevice;
beforeAll(async () => {
  gpu = await openDawnDevice();
});
afterAll(() => gpu?.device.destroy());

/** The largest difference in 8-bit levels between two frames' channels, and how many differ at all. */
function apart(x: Float32Array, y: Float32Array) {
  let most = 0, differ = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(level(x[i]!) - level(y[i]!));
    most = Math.max(most, d);
    if (d) differ++;
  }
  return { most, differ };
}

describe('the frames filters on Dawn (SwiftShader)', () => {
  const warm = readCube(new TextEncoder().encode(warmCube()));
  const blur: Stage[] = [{ type: 'blurH', weights: gaussian(1.5) }, { type: 'blurV', weights: gaussian(1.5) }];

  it('8 frames through blur → sobel → LUT come out as the CPU reference makes them, within a level', async () => {
    const stages: Stage[] = [...blur, { type: 'sobel' }, { type: 'lut', input: 0, size: 17, domain: warm.domain }];
    let differ = 0;
    for (let i = 0; i < 8; i++) {
      const frame = readFrame(clipFrame(i, 61, 37));
      const stats = { dispatches: 0, maxDispatchMs: 0 };
      const got = await filterFrameGpu(gpu.device, frame, stages, [warm], { stats, dispatchFlopsMax: 2e5 });
      const want = filterFrame(frame, stages, [warm]);
      expect([got.width, got.height]).toEqual([61, 37]);
      const a = apart(got.rgba, want.rgba);
      expect(a.most).toBeLessThanOrEqual(1);
      differ += a.differ;
      // A small budget splits each stage along its rows: the rows still add up to the frame.
      expect(stats.dispatches).toBeGreaterThan(stages.length);
    }
    // Float32 against float64: a level apart only where a value sits on a level's edge.
    expect(differ).toBeLessThan(8 * 61 * 37 * 4 * 0.01);
  });

  it('resizes up and down as the CPU does', async () => {
    const frame = readFrame(clipFrame(5, 50, 30));
    for (const [width, height] of [[20, 13], [97, 64]] as const) {
      const stages: Stage[] = [{ type: 'resize', width, height }];
      const got = await filterFrameGpu(gpu.device, frame, stages, []);
      expect([got.width, got.height]).toEqual([width, height]);
      expect(apart(got.rgba, filterFrame(frame, stages, []).rgba).most).toBeLessThanOrEqual(1);
    }
  });
});
