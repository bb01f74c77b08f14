import WebSocket from 'ws';
import { gpuContext, kernels, kinds } from '../../workloads/node.ts';
import { Pacer } from '../../shaders/pacer.ts';
import { openDawnDevice, type DawnDevice } from './dawn.ts';
import { PeerLink } from './peer-link.ts';
import { NodeRuntime, type NodeEvent, type PeerServer } from './runtime.ts';
import { describeSchedule, followSchedule, isOpen, type Schedule } from './schedule.ts';
import { tuningFor } from './tuning-cache.ts';

export interface AgentOptions {
  url: string;
  key?: string;
  name?: string;
  slots?: number;
  /** The least credits per GFLOP to work for. */
  ask?: number;
  /** The most of its time the GPU may be busy, 0.05 to 1 (shaders/pacer.ts). */
  throttle?: number;
  /** When it may work (server/agent/schedule.ts); always when absent. */
  schedule?: Schedule;
  /** Share blobs with other nodes over WebRTC (#18), where the coordinator offers it (default: yes). */
  p2p?: boolean;
  log?: (line: string) => void;
}

/** Why an agent cannot start, said to whoever started it; `code` is the process's exit code. */
export class AgentStartError extends Error {
  constructor(message: string, readonly code: number) {
    super(message);
  }
}

/**
 * Asks the coordinator who the key belongs to before anything else, so that a wrong URL or key
 * is said at once and plainly (it was "connection closed; reconnecting…" for ever): the account
 * the agent works for, or null to work anonymously (no key).
 */
export async function whoAmI(url: string, key: string | undefined): Promise<{ email: string } | null> {
  let res: Response;
  try {
    res = await fetch(`${url}/api/me`, { headers: key ? { authorization: `Bearer ${key}` } : {}, signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    throw new AgentStartError(`cannot reach the coordinator at ${url} (${cause}): is it running, and is the URL right?`, 4);
  }
  const body = await res.json().catch(() => null);
  if (!key && res.status === 401) return null;
  if (res.status === 401) throw new AgentStartError(`the coordinator at ${url} does not know this key (${String(key).slice(0, 6)}…): make one in the portal under "API keys", or with "supernet keys create NAME".`, 2);
  if (!res.ok || !body?.email) throw new AgentStartError(`${url} does not answer as a Supernet coordinator (GET /api/me gave ${res.status}): check the URL.`, 2);
  return { email: body.email };
}

/**
 * The headless node: Dawn's WebGPU in Node, the shared node runtime, the shared kernels.
 * A lost device fails the attempt in hand and is opened again for the next one.
 */
export async function startAgent(opts: AgentOptions): Promise<NodeRuntime> {
  const log = opts.log ?? ((line: string) => console.log(`[agent] ${line}`));
  const url = opts.url.replace(/\/$/, '');
  const account = await whoAmI(url, opts.key);
  log(account ? `working for ${account.email}: credits for its verified work go to that account` : 'no --key: working anonymously, and anonymous work earns no credits. Make a key in the portal under "API keys" and start again with --key to earn them.');
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
  const peers = opts.p2p === false ? null : await peerLink(url, log, () => runtime);
  const runtime: NodeRuntime = new NodeRuntime({
    url,
    ...(peers ? { peers: peers.link, onEvent: peers.onEvent } : {}),
    key: opts.key,
    name: opts.name,
    slots: opts.slots,
    ask: opts.ask,
    paused: opts.schedule ? !isOpen(opts.schedule, new Date()) : false,
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
  // Outside its schedule the node is paused: it leases nothing and finishes only what it holds.
  if (opts.schedule) {
    const schedule = opts.schedule;
    followSchedule(schedule, (open, at) => {
      if (open) runtime.resume();
      else runtime.pause();
      log(describeSchedule(schedule, at));
    });
  }
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

/**
 * The agent's side of blob sharing: a PeerLink over @roamhq/wrtc, registered after each
 * welcome of a coordinator that offers it; null (blobs from the coordinator only) where WebRTC
 * cannot load here.
 */
async function peerLink(url: string, log: (line: string) => void, runtime: () => NodeRuntime): Promise<{ link: PeerLink; onEvent: (event: NodeEvent) => void } | null> {
  let Peer;
  try {
    Peer = await (await import('./wrtc.ts')).loadPeerJs();
  } catch (err) {
    log(`no WebRTC on this platform (${(err as Error).message.split('\n')[0]}): every blob comes from the coordinator`);
    return null;
  }
  const link = new PeerLink({
    Peer,
    url,
    get: (sha) => runtime().cached(sha),
    allowed: () => !runtime().paused,
    onServed: (bytes) => runtime().countServed(bytes),
    // Named to peers only while they can reach it (while paused, the runtime says it serves no one).
    onOpen: (open) => runtime().setServing(open),
    log,
  });
  const share = async (server: PeerServer) => {
    const r = runtime();
    if (!r.nodeId || !r.nodeToken) return;
    try {
      await link.connect(server, r.nodeId, r.nodeToken);
    } catch (err) {
      log(`no peer-to-peer sharing for now (${(err as Error).message}): blobs come from the coordinator`);
    }
  };
  return {
    link,
    onEvent(event) {
      if (event.type === 'connected' && event.peers) void share(event.peers);
      if (event.type === 'stopped') link.close();
    },
  };
}

