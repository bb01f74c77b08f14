// npm run bench:train-accuracy. What #16's accuracy goals ask, end to end: a coordinator
// (`supernet serve`, PGlite) and Dawn agents (separate processes) train on the shipped digits over
// the API — the MLP 784-256-128-10 on two agents and again on one with the same seed (their curves
// compared round by round, their weights byte for byte), then the CNN conv 16×5, pool 2 on two.
// Each job's held-out accuracy is the result's (2,000 digits the job never trains on). The specs
// are bench/train-notes.md's. One run each (a run is a function of its seed; the minutes are
// what vary). BENCH_ACCURACY_ONE=0 skips the one-agent run. Writes bench/results/train-accuracy.{json,md}.
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { unzipSync } from 'fflate';
import { TestClient } from '../tests/helpers/client.ts';
import type { CurvePoint } from '../workloads/train/coordinator.ts';
import { agent, serve, stopAll } from './processes.ts';

const mlp = { model: { layers: [{ type: 'dense', units: 256 }, { type: 'relu' }, { type: 'dense', units: 128 }, { type: 'relu' }, { type: 'dense', units: 10 }] }, data: { dataset: 'mnist' }, batch: 512, shardRows: 64, epochs: 15, optimizer: 'adam', learningRate: 0.002, schedule: 'cosine', shift: 1, seed: 1 };
const cnn = { model: { layers: [{ type: 'conv2d', filters: 16, kernel: 5 }, { type: 'relu' }, { type: 'maxpool', size: 2 }, { type: 'dense', units: 10 }] }, data: { dataset: 'mnist' }, batch: 256, shardRows: 64, epochs: 10, optimizer: 'adam', learningRate: 0.003, schedule: 'cosine', shift: 1, seed: 1 };

interface Run {
  name: string;
  agents: number;
  rounds: number;
  testAccuracy: number;
  minutes: number;
  weightsSha256: string;
  curve: CurvePoint[];
}

async function train(dev: TestClient, name: string, spec: object, agents: number): Promise<Run> {
  const started = performance.now();
  const { id } = await dev.json('POST', '/api/jobs', { kind: 'train', spec }, 201);
  const ticker = setInterval(async () => {
    const job = await dev.json('GET', `/api/jobs/${id}`).catch(() => null);
    if (job) console.log(`  ${name}: round ${job.progress.round + 1}, ${((performance.now() - started) / 60_000).toFixed(1)} min`);
  }, 60_000);
  const job = await dev.waitForJob(id, 4 * 3_600_000).finally(() => clearInterval(ticker));
  if (job.state !== 'done') throw new Error(`${name} ended ${job.state}: ${job.error}`);
  const files = unzipSync(new Uint8Array(await (await dev.call('GET', `/api/jobs/${id}/result`)).arrayBuffer()));
  const summary = JSON.parse(new TextDecoder().decode(files['training.json']!));
  const run = { name, agents, rounds: summary.rounds, testAccuracy: summary.testAccuracy, minutes: (performance.now() - started) / 60_000, weightsSha256: createHash('sha256').update(files['model.safetensors']!).digest('hex'), curve: summary.curve };
  console.log(`${name} on ${agents} agent${agents > 1 ? 's' : ''}: ${(run.testAccuracy * 100).toFixed(1)}% on the held-out digits after ${run.rounds} rounds, ${run.minutes.toFixed(1)} min`);
  return run;
}

/** The largest differences of two runs' curves, round by round. */
function compare(a: Run, b: Run) {
  let loss = 0, accuracy = 0;
  a.curve.forEach((p, i) => {
    const q = b.curve[i]!;
    loss = Math.max(loss, Math.abs(p.loss - q.loss));
    accuracy = Math.max(accuracy, Math.abs(p.accuracy - q.accuracy));
  });
  return { rounds: Math.min(a.curve.length, b.curve.length), lossMaxDiff: loss, accuracyMaxDiff: accuracy, sameWeights: a.weightsSha256 === b.weightsSha256 };
}

const started = performance.now();
const dataDir = mkdtempSync(join(tmpdir(), 'supernet-bench-accuracy-'));
const coordinator = await serve({ SUPERNET_DATA: dataDir });
const children: ChildProcess[] = [];
const runs: Run[] = [];
let oneVsTwo: ReturnType<typeof compare> | null = null;
try {
  const dev = await TestClient.signup(coordinator.url, 'bench-accuracy@example.com');
  await dev.useNewKey();
  const contributor = await TestClient.signup(coordinator.url, 'bench-accuracy-agents@example.com');
  const keys = [await contributor.useNewKey('agent-0'), await contributor.useNewKey('agent-1')];
  children.push(await agent(coordinator.url, keys[0]!, 'accuracy-0'), await agent(coordinator.url, keys[1]!, 'accuracy-1'));
  runs.push(await train(dev, 'MLP 784-256-128-10', mlp, 2));
  runs.push(await train(dev, 'CNN conv 16×5, pool 2', cnn, 2));
  if (process.env.BENCH_ACCURACY_ONE !== '0') {
    children.pop()!.kill('SIGTERM');
    runs.push(await train(dev, 'MLP 784-256-128-10', mlp, 1));
    oneVsTwo = compare(runs[0]!, runs[2]!);
    console.log(`one agent against two, round by round: loss within ${oneVsTwo.lossMaxDiff}, accuracy within ${oneVsTwo.accuracyMaxDiff}; the same weights: ${oneVsTwo.sameWeights}`);
  }
} finally {
  await stopAll([...children, coordinator.child]);
  rmSync(dataDir, { recursive: true, force: true, maxRetries: 5 });
}

const outDir = resolve(import.meta.dirname, 'results');
mkdirSync(outDir, { recursive: true });
const result = { device: `SwiftShader (Dawn), ${cpus().length} CPU cores`, date: new Date().toISOString(), specs: { mlp, cnn }, runs: runs.map(({ curve: _, ...r }) => r), oneVsTwo, minutes: (performance.now() - started) / 60_000 };
writeFileSync(join(outDir, 'train-accuracy.json'), JSON.stringify(result, null, 2) + '\n');
const md = [
  '# train: accuracy on the held-out digits, end to end (one run each)',
  '',
  `Device: ${result.device}. Date: ${result.date}. Every shard's gradient from a Dawn agent; the coordinator checks them (server/verify/sampled.ts).`,
  '',
  '| model | agents | rounds | held-out accuracy | minutes |',
  '| --- | ---: | ---: | ---: | ---: |',
  ...runs.map((r) => `| ${r.name} | ${r.agents} | ${r.rounds} | ${(r.testAccuracy * 100).toFixed(1)}% | ${r.minutes.toFixed(1)} |`),
  '',
  oneVsTwo ? `One agent against two, same seed, over ${oneVsTwo.rounds} rounds: the loss differs by at most ${oneVsTwo.lossMaxDiff} and the batch accuracy by ${oneVsTwo.accuracyMaxDiff} in any round; the final weights are ${oneVsTwo.sameWeights ? 'the same, byte for byte' : 'different'}.` : 'The one-agent run was skipped.',
  '',
  `The bench took ${result.minutes.toFixed(1)} minutes.`,
  '',
].join('\n');
writeFileSync(join(outDir, 'train-accuracy.md'), md);
console.log(md);
process.exit(0);
