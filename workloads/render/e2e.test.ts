import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode as decodePng } from 'fast-png';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { TestClient } from '../../tests/helpers/client.ts';
import { runCli, spawnCli, stopChild, testCoordinator, waitForOutput } from '../../tests/helpers/coordinator.ts';
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

  it('renders the spheres scene tile by tile from `supernet submit render`, each tile checked, into the PNG the CPU path tracer makes', async () => {
    const dev = await TestClient.signup(coordinator.url, 'render-e2e@example.com');
    const key = await dev.useNewKey('ci');
    const contributor = await TestClient.signup(coordinator.url, 'render-agent@example.com');
    agent = spawnCli(['agent', '--url', coordinator.url, '--key', await contributor.useNewKey('agent'), '--name', 'renderer']);
    await waitForOutput(agent, /connected as node/);
    const out = join(mkdtempSync(join(tmpdir(), 'supernet-render-')), 'image.png');
    const submitted = await runCli(['submit', 'render', '--scene', 'spheres', '--width', '48', '--height', '32', '--spp', '4', '--tile', '16', '--samples-per-unit', '2', '--seed', '7', '--wait', '--out', out], { SUPERNET_URL: coordinator.url, SUPERNET_KEY: key });
    expect(submitted.code, submitted.output).toBe(0);
    expect(submitted.output).toMatch(/Submitted render job [0-9a-f-]{36}: 12 units/);
    const id = /^([0-9a-f-]{36})$/m.exec(submitted.output)![1]!;
    const res = await dev.call('GET', `/api/jobs/${id}/result`);
    expect([res.headers.get('content-type'), res.headers.get('content-disposition')]).toEqual(['image/png', `attachment; filename="render-${id}.png"`]);
    const png = decodePng(readFileSync(out));
    expect([png.width, png.height, png.channels]).toEqual([48, 32, 3]);
    const want = toSrgb8(traceTile(compileScene(builtinScenes.spheres!()), { width: 48, height: 32, x0: 0, y0: 0, w: 48, h: 32, s0: 0, s1: 4, seed: 7 }).map((v) => v / 4));
    // 8-bit values as the CPU's, but for a pixel or two whose paths parted on a rounding.
    let off = 0;
    for (let i = 0; i < want.length; i += 3) if ([0, 1, 2].some((k) => Math.abs(png.data[i + k]! - want[i + k]!) > 1)) off++;
    expect(off).toBeLessThanOrEqual(2);
    expect((await dev.json('GET', `/api/jobs/${id}/units`)).verification).toMatchObject({ method: 'check', executions: 12, valid: 12, invalid: 0 });
    // Its own options say what is wrong with them, before anything is sent.
    const bad = await runCli(['submit', 'render', '--scene', 'spheres', '--width', 'wide'], { SUPERNET_URL: coordinator.url, SUPERNET_KEY: key });
    expect([bad.code, bad.output]).toEqual([2, 'supernet: --width takes a whole number, not "wide".\n']);
  });
});
