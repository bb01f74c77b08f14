// npm run bench (its train section; alone: npm run bench:train). Training end to end: a
// coordinator (`supernet serve`, PGlite) and 1, 2 and 4 Dawn agents (separate processes), one
// train job of fixed rounds submitted over the API and timed from submit to done — rounds per
// minute, shards' gradients checked by the coordinator's recomputation of a sample. Beside it, one
// shard's step alone on Dawn in this process, and the same step in the CPU reference; and one
// training step in Chromium against TensorFlow.js and jax-js. Medians of BENCH_TRAIN_RUNS
// (default 3) runs. Writes bench/results/train.{json,md}.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openDawnDevice } from '../server/agent/dawn.ts';
import { TestClient } from '../tests/helpers/client.ts';
import { dataset, gather } from '../workloads/train/data.ts';
import { shardGradientGpu } from '../workloads/train/gpu.ts';
import { mnist } from '../workloads/train/mnist.ts';
import { initialParams, planModel, type Layer } from '../workloads/train/model.ts';
import { gradients } from '../workloads/train/reference.ts';
import { openBenchPage } from './chromium.ts';
import { agent, serve, stopAll } from './processes.ts';
import { median } from './timing.ts';

const runs = Math.max(1, Number(process.env.BENCH_TRAIN_RUNS ?? 3));
const layers: Layer[] = [{ type: 'dense', units: 128 }, { type: 'relu' }, { type: 'dense', units: 10 }];
const spec = { model: { layers }, data: { dataset: 'mnist' }, batch: 256, shardRows: 64, rounds: 8, learningRate: 0.003, shift: 1, seed: 1 };

async function timeJob(dev: TestClient, seed: number): Promise<number> {
  const started = performance.now();
  const job = await dev.json('POST', '/api/jobs', { kind: 'train', spec: { ...spec, seed } }, 201);
  const done = await dev.waitForJob(job.id, 900_000);
  if (done.state !== 'done') throw new Error(`the train job ended ${done.state}: ${done.error}`);
  return (performance.now() - started) / 1000;
}

const started = performance.now();
const dataDir = mkdtempSync(join(tmpdir(), 'supernet-bench-train-'));
const coordinator = await serve({ SUPERNET_DATA: dataDir });
const agents: ChildProcess[] = [];
const network: Record<string, { roundsPerMinute: number; seconds: number[] }> = {};
try {
  const dev = await TestClient.signup(coordinator.url, 'bench-train@example.com');
  await dev.useNewKey();
  const contributor = await TestClient.signup(coordinator.url, 'bench-train-agents@example.com');
  for (const count of [1, 2, 4]) {
    while (agents.length < count) agents.push(await agent(coordinator.url, await contributor.useNewKey(`agent-${agents.length}`), `bench-${agents.length}`));
    console.log(`${count} Dawn agent${count > 1 ? 's' : ''}:`);
    await timeJob(dev, 100 + count); // warm-up: pipelines, the dataset in each agent's cache
    const seconds: number[] = [];
    for (let r = 0; r < runs; r++) {
      seconds.push(await timeJob(dev, r + 1));
      console.log(`  run ${r + 1}: ${spec.rounds} rounds in ${seconds.at(-1)!.toFixed(1)} s`);
    }
    network[count] = { roundsPerMinute: (spec.rounds * 60) / median(seconds), seconds };
  }
} finally {
  await stopAll([...agents, coordinator.child]);
  rmSync(dataDir, { recursive: true, force: true, maxRetries: 5 });
}

// One shard's gradient (64 digits), on Dawn here and in the CPU reference.
const dawn = await openDawnDevice();
const plan = planModel([1, 28, 28], layers, 10);
const params = initialParams(plan, 1);
const { train } = mnist();
const { x, labels } = gather(dataset(train.features, train.labels), Array.from({ length: spec.shardRows }, (_, i) => i));
const gpuSeconds: number[] = [], cpuSeconds: number[] = [];
for (let r = 0; r <= runs; r++) {
  let t0 = performance.now();
  await shardGradientGpu(dawn.device, plan, params, x, labels, spec.shardRows);
  if (r > 0) gpuSeconds.push((performance.now() - t0) / 1000); // run 0 warms up
  t0 = performance.now();
  gradients(plan, params, x, labels, spec.shardRows);
  if (r > 0) cpuSeconds.push((performance.now() - t0) / 1000);
}
const adapter = dawn.adapter.description;
dawn.device.destroy();
const stepFlops = 3 * plan.flopsForward * spec.shardRows;
const step = { gpuMs: median(gpuSeconds) * 1000, cpuMs: median(cpuSeconds) * 1000, gpuGflops: stepFlops / median(gpuSeconds) / 1e9, cpuGflops: stepFlops / median(cpuSeconds) / 1e9 };

// One training step of the same MLP and batch in Chromium: ours, TensorFlow.js (WebGPU) and
// jax-js (WebGPU), in one page, interleaved run by run (bench/page/main.ts says what a step is).
const page = await openBenchPage();
const browser = await page.page.evaluate(([batch, runs]) => window.supernetBench.trainSteps(128, batch, runs), [spec.batch, Math.max(5, runs)] as const).finally(() => page.close());
console.log(`Chromium, one step of ${spec.batch} rows: ours ${browser.ours?.toFixed(0)} ms, TF.js ${browser.tfjs?.toFixed(0)} ms, jax-js ${browser.jax?.toFixed(0)} ms`);

const seconds = (performance.now() - started) / 1000;
const result = { device: `${adapter} (Dawn), ${cpus().length} CPU cores`, date: new Date().toISOString(), runs, spec, network, step, browser, seconds };
const md = [
  `# train, end to end (median of ${runs})`,
  '',
  `Device: ${result.device}. Date: ${result.date}.`,
  `Job: MLP 784-128-10 on the shipped digits, ${spec.rounds} rounds of ${spec.batch} rows in shards of ${spec.shardRows} (${spec.batch / spec.shardRows} units a round), Adam; the coordinator recomputes a sample of the shards (every one of a node until it is trusted: server/verify/sampled.ts).`,
  '',
  '| agents | rounds/min |',
  '| --- | ---: |',
  ...Object.entries(network).map(([count, f]) => `| ${count} | ${f.roundsPerMinute.toFixed(1)} |`),
  '',
  `One shard's step (forward, loss, backward over ${spec.shardRows} digits, ${(stepFlops / 1e6).toFixed(1)} MFLOP): Dawn ${step.gpuMs.toFixed(0)} ms (${step.gpuGflops.toFixed(2)} GFLOP/s), CPU reference ${step.cpuMs.toFixed(0)} ms (${step.cpuGflops.toFixed(2)} GFLOP/s).`,
  '',
  `One training step in Chromium (MLP 784-128-10, ${spec.batch} rows, Adam; the batch uploaded, the weights ready after; median of ${Math.max(5, runs)}, interleaved): ours ${browser.ours?.toFixed(0)} ms, TensorFlow.js WebGPU ${browser.tfjs?.toFixed(0)} ms (${((browser.tfjs ?? NaN) / (browser.ours ?? NaN)).toFixed(2)}× ours), jax-js WebGPU ${browser.jax?.toFixed(0)} ms (${((browser.jax ?? NaN) / (browser.ours ?? NaN)).toFixed(2)}× ours).`,
  '',
  `Agents share this machine's ${cpus().length} cores with the coordinator, whose check of a shard recomputes it${/swiftshader/i.test(adapter) ? ' (SwiftShader computes on the CPU too)' : ''}. The bench took ${seconds.toFixed(0)} s.`,
  '',
].join('\n');
const dir = resolve(import.meta.dirname, 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(resolve(dir, 'train.json'), JSON.stringify(result, null, 2) + '\n');
writeFileSync(resolve(dir, 'train.md'), md);
console.log('\n' + md);
process.exit(0);
