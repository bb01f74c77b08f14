// npm run bench (its workloads section; alone: npm run bench:workloads). The render and frames
// workloads end to end: a coordinator (`supernet serve`, PGlite) and one, then two, Dawn agents
// (`supernet agent`, separate processes), a job submitted over the API and timed from submit to
// done (sharding, leases, the GPU, uploads, every unit's check, assembly). Beside them the
// kernels alone on Dawn in this process, for the share the network costs. Medians of
// BENCH_WORKLOADS_RUNS (default 3) runs. Writes bench/results/workloads.{json,md}.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openDawnDevice } from '../server/agent/dawn.ts';
import { TestClient } from '../tests/helpers/client.ts';
import { compileScene } from '../workloads/render/compiled.ts';
import { renderTileGpu } from '../workloads/render/gpu.ts';
import { builtinScenes } from '../workloads/render/scene.ts';
import { gaussian, type Stage } from '../workloads/frames/filters.ts';
import { clipFrame, clipZip, warmCube } from '../workloads/frames/fixtures.ts';
import { filterFrameGpu } from '../workloads/frames/gpu.ts';
import { readFrame } from '../workloads/frames/image.ts';
import { readCube } from '../workloads/frames/lut.ts';
import { agent, serve, stopAll } from './processes.ts';
import { median } from './timing.ts';

const runs = Math.max(1, Number(process.env.BENCH_WORKLOADS_RUNS ?? 3));
const render = { scene: 'spheres', width: 256, height: 256, spp: 32, tile: 64, samplesPerUnit: 8 };
const clip = { frames: 24, width: 320, height: 240, sigma: 1.5 };
const samples = render.width * render.height * render.spp;

async function timeJob(dev: TestClient, kind: string, spec: Record<string, unknown>): Promise<number> {
  const started = performance.now();
  const job = await dev.json('POST', '/api/jobs', { kind, spec }, 201);
  const done = await dev.waitForJob(job.id, 600_000);
  if (done.state !== 'done') throw new Error(`the ${kind} job ended ${done.state}: ${done.error}`);
  return (performance.now() - started) / 1000;
}

const started = performance.now();
const dataDir = mkdtempSync(join(tmpdir(), 'supernet-bench-workloads-'));
const coordinator = await serve({ SUPERNET_DATA: dataDir });
const agents: ChildProcess[] = [];
const network: Record<string, { renderSamplesPerSecond: number; framesPerSecond: number; renderSeconds: number[]; framesSeconds: number[] }> = {};
try {
  const dev = await TestClient.signup(coordinator.url, 'bench-workloads@example.com');
  await dev.useNewKey();
  const zip = await dev.upload(clipZip(clip.frames, clip.width, clip.height));
  const lut = await dev.upload(new TextEncoder().encode(warmCube()));
  const framesSpec = { frames: zip, filters: [{ type: 'blur', sigma: clip.sigma }, { type: 'sobel' }, { type: 'lut', lut }] };
  const contributor = await TestClient.signup(coordinator.url, 'bench-agents@example.com');
  for (const count of [1, 2]) {
    while (agents.length < count) agents.push(await agent(coordinator.url, await contributor.useNewKey(`agent-${agents.length}`), `bench-${agents.length}`));
    console.log(`${count} Dawn agent${count > 1 ? 's' : ''}:`);
    await timeJob(dev, 'render', { ...render, spp: 8, samplesPerUnit: 8 }); // warm-up: pipelines, caches
    const renderSeconds: number[] = [], framesSeconds: number[] = [];
    for (let r = 0; r < runs; r++) {
      renderSeconds.push(await timeJob(dev, 'render', { ...render, seed: r + 1 }));
      framesSeconds.push(await timeJob(dev, 'frames', framesSpec));
      console.log(`  run ${r + 1}: render ${renderSeconds.at(-1)!.toFixed(1)} s, frames ${framesSeconds.at(-1)!.toFixed(1)} s`);
    }
    network[count] = { renderSamplesPerSecond: samples / median(renderSeconds), framesPerSecond: clip.frames / median(framesSeconds), renderSeconds, framesSeconds };
  }
} finally {
  await stopAll([...agents, coordinator.child]);
  rmSync(dataDir, { recursive: true, force: true });
}

// The kernels alone: one 64×64 tile × 8 samples at a time, and one frame at a time, on Dawn here.
const dawn = await openDawnDevice();
const scene = compileScene(builtinScenes[render.scene]!());
const tileSeconds: number[] = [];
for (let r = 0; r <= runs; r++) {
  const t0 = performance.now();
  for (let y0 = 0; y0 < render.height; y0 += 64) for (let x0 = 0; x0 < render.width; x0 += 64) await renderTileGpu(dawn.device, scene, { width: render.width, height: render.height, x0, y0, w: 64, h: 64, s0: 0, s1: 8, seed: r });
  if (r > 0) tileSeconds.push((performance.now() - t0) / 1000); // run 0 warms up
}
const warm = readCube(new TextEncoder().encode(warmCube()));
const stages: Stage[] = [{ type: 'blurH', weights: gaussian(clip.sigma) }, { type: 'blurV', weights: gaussian(clip.sigma) }, { type: 'sobel' }, { type: 'lut', input: 0, size: warm.size, domain: warm.domain }];
const frameSeconds: number[] = [];
for (let r = 0; r <= runs; r++) {
  const t0 = performance.now();
  for (let i = 0; i < 8; i++) await filterFrameGpu(dawn.device, readFrame(clipFrame(i, clip.width, clip.height)), stages, [warm]);
  if (r > 0) frameSeconds.push((performance.now() - t0) / 1000 / 8);
}
const adapter = dawn.adapter.description;
dawn.device.destroy();
const kernel = { renderSamplesPerSecond: (render.width * render.height * 8) / median(tileSeconds), framesPerSecond: 1 / median(frameSeconds) };

const seconds = (performance.now() - started) / 1000;
const result = { device: `${adapter} (Dawn), ${cpus().length} CPU cores`, date: new Date().toISOString(), runs, render, clip, network, kernel, seconds };
const n = (x: number) => Math.round(x).toLocaleString('en');
const md = [
  `# render and frames, end to end (median of ${runs})`,
  '',
  `Device: ${result.device}. Date: ${result.date}.`,
  `render: ${render.scene} ${render.width}×${render.height} at ${render.spp} spp, ${render.tile}-pixel tiles × ${render.samplesPerUnit} samples (${(render.width / render.tile) * (render.height / render.tile) * (render.spp / render.samplesPerUnit)} units). frames: ${clip.frames} frames of ${clip.width}×${clip.height}, blur σ ${clip.sigma} → sobel → 17³ LUT.`,
  'Network: submit to done through a coordinator (PGlite) and Dawn agents, each unit checked. Kernel: the same work on Dawn in one process, no network.',
  '',
  '| | render samples/s | frames/s |',
  '| --- | ---: | ---: |',
  ...Object.entries(network).map(([count, f]) => `| ${count} agent${count === '1' ? '' : 's'} | ${n(f.renderSamplesPerSecond)} | ${f.framesPerSecond.toFixed(2)} |`),
  `| kernel alone | ${n(kernel.renderSamplesPerSecond)} | ${kernel.framesPerSecond.toFixed(2)} |`,
  '',
  /swiftshader/i.test(adapter)
    ? `Two agents share this machine's ${cpus().length} cores with the coordinator (SwiftShader computes on the CPU): the second adds cores only where there are cores to add. The bench took ${seconds.toFixed(0)} s.`
    : `Two agents share one GPU: each job is small (64 tiles, 24 frames), so a unit's round trip through the coordinator is much of its time. The bench took ${seconds.toFixed(0)} s.`,
  '',
].join('\n');
const dir = resolve(import.meta.dirname, 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(resolve(dir, 'workloads.json'), JSON.stringify(result, null, 2) + '\n');
writeFileSync(resolve(dir, 'workloads.md'), md);
console.log('\n' + md);
process.exit(0);
