/// <reference lib="webworker" />
// The browser node's worker: the GPU (gpu.ts) and the node runtime (server/agent/runtime.ts, the
// same one the Dawn agent runs) live here together, with the IndexedDB stores. The page's main
// thread only says start, pause and resume through comlink and hears events: it never holds
// a matrix, hashes a result or waits on the network, so contributing adds no long tasks there.
import { expose } from 'comlink';
import { NodeRuntime, TieredBlobCache, type NodeEvent, type PeerSource } from '../../server/agent/runtime.ts';
import type { Capabilities } from '../../server/protocol/messages.ts';
import type { Tuning } from '../../workloads/matmul/autotune.ts';
import { cpuKinds, kernels, kinds } from '../../workloads/node.ts';
import { DexieBlobCache, DexieIdentityStore, DexieResultStore, openNodeDb } from '../node/store.ts';
import { gpu, type Opened } from './gpu.ts';

export interface Calibrated {
  opened: Opened;
  tuning: Tuning;
  remembered: boolean;
}

const db = openNodeDb();
/**
 * Whether IndexedDB may be used here: a cross-site frame (the widget) may be denied storage by
 * the browser (third-party storage blocked). Then the node keeps everything in memory: a reload
 * loses the results not yet acknowledged, and the autotune is done again.
 */
const persistent: Promise<boolean> = db.open().then(() => true, () => false);
/** Panels reused by units of one row or column stay in memory; IndexedDB holds the rest across reloads. */
const hotBytes = 64 * 1024 * 1024;
/** `key`: a bearer secret for the node (the widget's `snw_` token); without one the session cookie signs it in. */
let settings: { url: string; account: string | null; key?: string; cacheBytes?: number } | null = null;
let runtime: NodeRuntime | null = null;
let listener: ((event: NodeEvent) => void) | null = null;
/** The page's PeerLink (web/node/browser-node.ts): WebRTC lives on the main thread only. */
let peerSource: PeerSource | null = null;

async function startRuntime(capabilities: Capabilities) {
  if (!settings) throw new Error('configure() the node first');
  const stored = await persistent;
  runtime = new NodeRuntime({
    url: settings.url,
    name: `browser · ${capabilities.adapter.description}`,
    capabilities,
    paused: true,
    ...(stored
      ? {
          cache: new TieredBlobCache(new DexieBlobCache(db, settings.cacheBytes), hotBytes),
          results: new DexieResultStore(db),
          identity: new DexieIdentityStore(db, settings.account ?? 'anonymous'),
        }
      : {}),
    key: settings.key,
    // A browser WebSocket sends no headers: a key goes in the query; else the session cookie signs it in.
    connect: (wsUrl) => new WebSocket(settings?.key ? `${wsUrl}?key=${encodeURIComponent(settings.key)}` : wsUrl),
    execute: (unit, inputs) => gpu.run(unit, inputs),
    peers: { fetch: (sha, from) => (peerSource ? peerSource.fetch(sha, from) : Promise.resolve({ failures: [] })) },
    // The unit in words (its workload's node half says): the page shows what the GPU is doing.
    onEvent: (event) => listener?.(event.type === 'running' ? { ...event, what: kernels[event.unit.kind]?.describe(event.unit.params) } : event),
  });
  void runtime.start();
}

const api = {
  run: gpu.run,
  setThrottle: gpu.setThrottle,
  busyShare: gpu.busyShare,
  restShare: gpu.restShare,
  longestBusy: gpu.longestBusy,
  loseDevice: gpu.loseDevice,

  configure(opts: { url: string; account: string | null; key?: string; cacheBytes?: number }) {
    settings = opts;
  },

  /** Blobs from peers: a comlink proxy of the page's PeerLink (null: none). */
  setPeerSource(source: PeerSource | null) {
    peerSource = source;
  },

  /** The page serves this node's cache to peers (its PeerLink is open), or no longer. */
  setServing(on: boolean) {
    runtime?.setServing(on);
  },

  /** A blob of the cache, for a peer that asked the page for it. */
  cached(sha: string): Promise<Uint8Array | undefined> {
    return runtime ? runtime.cached(sha) : Promise.resolve(undefined);
  },

  countServed(bytes: number) {
    runtime?.countServed(bytes);
  },

  /** Blob bytes this node took from peers and from the coordinator, and gave to peers, since the page opened. */
  blobBytes(): { fromPeers: number; fromCoordinator: number; toPeers: number } {
    const s = runtime?.stats;
    return { fromPeers: s?.bytesFromPeers ?? 0, fromCoordinator: s?.bytesFromCoordinator ?? 0, toPeers: s?.bytesToPeers ?? 0 };
  },

  /** Where runtime events go: a comlink proxy of the page's callback. */
  listen(onEvent: (event: NodeEvent) => void) {
    listener = onEvent;
  },

  async keptResults(): Promise<number> {
    return (await persistent) ? db.results.count() : 0;
  },

  /** The device this browser calibrated last (its adapter, kernel and speed), for the page before Start. */
  async rememberedDevice(): Promise<{ adapter: string; kernel: string; gflops: number } | null> {
    if (!(await persistent)) return null;
    const row = await db.tuning.toCollection().last();
    if (!row) return null;
    const [, vendor, architecture, , description] = row.adapter.split('|');
    return { adapter: description || [vendor, architecture].filter(Boolean).join(' ') || 'WebGPU adapter', kernel: `${row.tuning.config.kernel} ${row.tuning.config.wg.join('×')}`, gflops: row.tuning.gflops };
  },

  /** Connects without working, to deliver results kept from before a reload (no GPU, no leases). */
  async deliverKept() {
    if (runtime) return;
    const remembered = (await persistent) ? await db.tuning.toCollection().first() : undefined;
    await startRuntime({ adapter: { vendor: 'browser', architecture: '', device: '', description: 'browser node' }, features: [], gflops: remembered?.tuning.gflops ?? 1, kinds: cpuKinds });
  },

  /** Opens the GPU (or the CPU fallback), picks the kernel (remembered per adapter, or autotuned). */
  async calibrate(): Promise<Calibrated> {
    const opened = await gpu.open();
    const key = [opened.backend, opened.adapter.vendor, opened.adapter.architecture, opened.adapter.device, opened.adapter.description].join('|');
    const stored = (await persistent) && opened.backend === 'webgpu';
    const known = stored ? await db.tuning.get(key) : undefined;
    const tuning = await gpu.calibrate(known?.tuning);
    if (!known && stored) await db.tuning.put({ adapter: key, tuning });
    const capabilities = { adapter: opened.adapter, features: opened.features, gflops: tuning.gflops, kinds: opened.backend === 'webgpu' ? kinds : cpuKinds };
    // Connected at load to deliver kept results with a guessed speed: say the measured one.
    if (runtime) runtime.updateCapabilities(capabilities);
    else await startRuntime(capabilities);
    return { opened, tuning, remembered: !!known };
  },

  pause() {
    runtime?.pause();
  },

  resume() {
    runtime?.resume();
  },

  /** The node's id and token, for its own figures (GET /api/nodes/:id). */
  credentials(): { nodeId: string; token: string } | null {
    return runtime?.nodeId && runtime.nodeToken ? { nodeId: runtime.nodeId, token: runtime.nodeToken } : null;
  },
};

export type NodeWorkerApi = typeof api;
expose(api);
