import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { TestClient } from '../../tests/helpers/client.ts';
import { runCli, spawnCli, stopChild, testCoordinator, waitForOutput } from '../../tests/helpers/coordinator.ts';
import { filterFrame, gaussian } from './filters.ts';
import { clipFrame, clipZip, warmCube } from './fixtures.ts';
import { level, readFrame } from './image.ts';
import { readCube } from './lut.ts';

describe('a frames job on a Dawn agent', () => {
  let coordinator: Coordinator;
  let agent: ReturnType<typeof spawnCli> | null = null;
  beforeAll(async () => {
    coordinator = await testCoordinator('pglite');
  });
  afterAll(async () => {
    if (agent) await stopChild(agent);
    await coordinator?.close();
  });

  it('8 frames through blur → sobel → LUT from `supernet submit frames`, each checked, into the zip the CPU reference makes', async () => {
    const dev = await TestClient.signup(coordinator.url, 'frames-e2e@example.com');
    const key = await dev.useNewKey('ci');
    const contributor = await TestClient.signup(coordinator.url, 'frames-agent@example.com');
    agent = spawnCli(['agent', '--url', coordinator.url, '--key', await contributor.useNewKey('agent'), '--name', 'filters']);
    await waitForOutput(agent, /connected as node/);
    const dir = mkdtempSync(join(tmpdir(), 'supernet-frames-'));
    writeFileSync(join(dir, 'clip.zip'), clipZip(8, 64, 40));
    writeFileSync(join(dir, 'warm.cube'), warmCube());
    const out = join(dir, 'out.zip');
    const env = { SUPERNET_URL: coordinator.url, SUPERNET_KEY: key };
    const submitted = await runCli(['submit', 'frames', '--frames', join(dir, 'clip.zip'), '--filters', `blur:1.5, sobel, lut:${join(dir, 'warm.cube')}`, '--wait', '--out', out], env);
    expect(submitted.code, submitted.output).toBe(0);
    expect(submitted.output).toMatch(/Submitted frames job [0-9a-f-]{36}: 8 units/);
    const id = /^([0-9a-f-]{36})$/m.exec(submitted.output)![1]!;
    const res = await dev.call('GET', `/api/jobs/${id}/result`);
    expect([res.headers.get('content-type'), res.headers.get('content-disposition')]).toEqual(['application/zip', `attachment; filename="frames-${id}.zip"`]);

    const files = unzipSync(readFileSync(out));
    expect(Object.keys(files).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `clip/frame_${i + 1}.png`).sort());
    const warm = readCube(new TextEncoder().encode(warmCube()));
    const stages = [{ type: 'blurH' as const, weights: gaussian(1.5) }, { type: 'blurV' as const, weights: gaussian(1.5) }, { type: 'sobel' as const }, { type: 'lut' as const, input: 0, size: 17, domain: warm.domain }];
    for (let i = 0; i < 8; i++) {
      const got = readFrame(files[`clip/frame_${i + 1}.png`]!);
      const want = filterFrame(readFrame(clipFrame(i, 64, 40)), stages, [warm]);
      expect([got.width, got.height]).toEqual([64, 40]);
      let most = 0;
      for (let k = 0; k < got.rgba.length; k++) most = Math.max(most, Math.abs(level(got.rgba[k]!) - level(want.rgba[k]!)));
      expect(most).toBeLessThanOrEqual(1);
    }
    expect((await dev.json('GET', `/api/jobs/${id}/units`)).verification).toMatchObject({ method: 'check', executions: 8, valid: 8, invalid: 0 });

    const bad = await runCli(['submit', 'frames', '--frames', join(dir, 'clip.zip'), '--filters', 'blur:2, sharpen'], env);
    expect([bad.code, bad.output]).toEqual([2, 'supernet: --filters: "sharpen" is not a filter: blur:SIGMA, sobel, lut:FILE.cube or resize:WxH.\n']);
  });
});
