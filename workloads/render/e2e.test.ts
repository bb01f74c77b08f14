import { decode as decodePng } from 'fast-png';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { TestClient } from '../../tests/helpers/client.ts';
import { spawnCli, stopChild, testCoordinator, waitForOutput } from '../../tests/helpers/coordinator.ts';
import { compileScene } from './compiled.ts';
import { toSrgb8 } from './coordinator.ts';
import { builtinScenes } from './scene.ts';
import { traceTile } from './trace.ts';

describe('a render job on a Dawn agent', () => {
  let coordinator: Coordinator;
  let agent: ReturnType<typeof spawnCli> | null = null;
  beforeAll(async () => {
    coordinator = await testCoordinator('pglite');
  });
  afterAll(async () => {
    if (agent) await stopChild(agent);
    await coordinator?.close();
  });

  it('renders the spheres scene tile by tile, each tile checked, into the PNG the CPU path tracer makes', async () => {
    const dev = await TestClient.signup(coordinator.url, 'render-e2e@example.com');
    await dev.useNewKey('ci');
    const spec = { scene: 'spheres', width: 48, height: 32, spp: 4, tile: 16, samplesPerUnit: 2, seed: 7 };
    const submitted = await dev.json('POST', '/api/jobs', { kind: 'render', spec }, 201);
    expect(submitted).toMatchObject({ units: 3 * 2 * 2, verification: 'check' });
    const contributor = await TestClient.signup(coordinator.url, 'render-agent@example.com');
    agent = spawnCli(['agent', '--url', coordinator.url, '--key', await contributor.useNewKey('agent'), '--name', 'renderer']);
    await waitForOutput(agent, /connected as node/);
    const job = await dev.waitForJob(submitted.id);
    expect(job.state).toBe('done');
    const res = await dev.call('GET', `/api/jobs/${submitted.id}/result`);
    expect([res.headers.get('content-type'), res.headers.get('content-disposition')]).toEqual(['image/png', `attachment; filename="render-${submitted.id}.png"`]);
    const png = decodePng(new Uint8Array(await res.arrayBuffer()));
    expect([png.width, png.height, png.channels]).toEqual([48, 32, 3]);
    const want = toSrgb8(traceTile(compileScene(builtinScenes.spheres!()), { width: 48, height: 32, x0: 0, y0: 0, w: 48, h: 32, s0: 0, s1: 4, seed: 7 }).map((v) => v / 4));
    // 8-bit values as the CPU's, but for a pixel or two whose paths parted on a rounding.
    let off = 0;
    for (let i = 0; i < want.length; i += 3) if ([0, 1, 2].some((k) => Math.abs(png.data[i + k]! - want[i + k]!) > 1)) off++;
    expect(off).toBeLessThanOrEqual(2);
    expect((await dev.json('GET', `/api/jobs/${submitted.id}/units`)).verification).toMatchObject({ method: 'check', executions: 12, valid: 12, invalid: 0 });
  });
});
