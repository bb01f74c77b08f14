import WebSocket from 'ws';
import { gpuContext, kernels, kinds } from '../../workloads/node.ts';
import { Pacer } from '../../shaders/pacer.ts';
import { openDawnDevice, type DawnDevice } from './dawn.ts';
import { NodeRuntime } from './runtime.ts';
import { tuningFor } from './tuning-cache.ts';

export interface AgentOptions {
  url: string;
  key?: string;
  name?: string;
  slots?: number;
  /** The least credits per TFLOP to work for. */
  ask?: number;
  /** The most of its time the GPU may be busy, 0.05 to 1 (shaders/pacer.ts). */
  throttle?: number;
  log?: (line: string) => void;
}

/**
 * The headless node: Dawn's WebGPU in Node, the shared node runtime, the shared kernels.
 * A lost device fails the attempt in hand and is opened again for the next one.
 */
export async function startAgent(opts: AgentOptions): Promise<NodeRuntime> {
  const log = opts.log ?? ((line: string) => console.log(`[agent] ${line}`));
  let gpu: DawnDevice = await openDawnDevice();
  let lost = false;
  const watch = (g: DawnDevice) => void g.device.lost.then((info) => {
    lost = true;
    log(`GPU device lost (${info.message}); it will be reopened`);
  });
  watch(gpu);
  const { tuning, cached } = await tuningFor(gpu);
  const pacer = new Pacer();
  if (opts.throttle !== undefined) pacer.share = opts.throttle;
  const gflops = tuning.gflops;
  const { kernel, wg } = tuning.config;
  log(`${gpu.adapter.description || gpu.adapter.vendor || 'WebGPU adapter'}: ${gflops.toFixed(2)} GFLOP/s with ${kernel} ${wg.join('×')} (${cached ? 'remembered' : 'autotuned'})`);
  const runtime = new NodeRuntime({
    url: opts.url.replace(/\/$/, ''),
    key: opts.key,
    name: opts.name,
    slots: opts.slots,
    ask: opts.ask,
    log,
    capabilities: { adapter: gpu.adapter, features: gpu.features, gflops, kinds },
    connect: (url, headers) => new WebSocket(url, { headers }) as unknown as globalThis.WebSocket,
    async execute(unit, inputs) {
      const kernel = kernels[unit.kind];
      if (!kernel) throw new Error(`this node cannot run ${unit.kind} units`);
      if (lost) {
        gpu = await openDawnDevice();
        lost = false;
        watch(gpu);
      }
      return kernel.run(gpuContext(gpu.device, tuning, pacer), inputs, unit.params);
    },
  });
  await runtime.start();
  // A line a minute while there is news, so whoever runs the agent sees it working.
  let reported = '';
  const report = setInterval(() => {
    const { unitsDone, unitsRefused, unitsFailed } = runtime.stats;
    const line = `${unitsDone} units done, ${unitsRefused} refused, ${unitsFailed} failed`;
    if (line !== reported) log(line);
    reported = line;
  }, 60_000);
  report.unref();
  return runtime;
}
