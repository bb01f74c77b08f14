import { proxy, transfer, wrap, type Remote } from 'comlink';
import { Peer } from 'peerjs';
import { PeerLink } from '../../server/agent/peer-link.ts';
import type { NodeEvent, PeerServer } from '../../server/agent/runtime.ts';
import type { Opened } from '../worker/gpu.ts';
import type { NodeWorkerApi } from '../worker/node-worker.ts';
import { Politeness, type PauseReason } from './politeness.ts';
import type { Schedule } from '../../server/agent/schedule.ts';
import { DexieBlobCache, openNodeDb, type NodeDb } from './store.ts';

/**
 * The browser node, as the page sees it: a Web Worker (web/worker/node-worker.ts) runs the
 * shared NodeRuntime and the GPU; this side holds the politeness rules (politeness.ts, which
 * need the document), the figures the page shows, and the one-node-per-browser lock.
 *
 * Browser node
 *   idle ──Start (a click)──▶ calibrating ──▶ working ◀──▶ paused (you / hidden / battery)
 *     │                                          └──device lost──▶ unit failed, device reopened
 *     └─ on load, results kept from before a reload are delivered (no GPU work, no leases)
 * One node per browser profile (a Web Lock): two tabs would only fight over one GPU.
 */
export type NodeState = 'idle' | 'calibrating' | 'working' | 'paused' | 'error';

export interface Sample {
  at: number;
  gflops: number;
}

export interface NodeSnapshot {
  state: NodeState;
  message: string;
  pausedBecause: PauseReason[];
  backend: Opened['backend'] | null;
  adapter: string;
  kernel: string;
  gflopsCalibrated: number;
  throttle: number;
  allowBackground: boolean;
  nodeId: string | null;
  connected: boolean;
  /** The unit on the GPU now: its kind and, in words, what it is. */
  running: { unitId: string; kind: string; what: string; since: number } | null;
  session: { unitsDone: number; unitsFailed: number; unitsRefused: number; flopsDone: number; contributedMs: number; clickedAt: number | null; firstAcceptedAt: number | null };
  throughput: Sample[];
  keptResults: number;
  /** Blob bytes since the page opened: from peers, from the coordinator, and served to peers (#18). */
  blobs: { fromPeers: number; fromCoordinator: number; toPeers: number };
  /** Registered with the coordinator's peer signalling: this node shares blobs with others. */
  sharing: boolean;
}

const sampleEveryMs = 1000;
const samplesKept = 120;
const lockName = 'supernet-node';

export class BrowserNode extends EventTarget {
  /** The worker's IndexedDB, opened here too for the page's debug handle and the tests. */
  readonly db: NodeDb;
  readonly cache: DexieBlobCache;
  readonly events: { at: number; event: NodeEvent }[] = [];
  readonly worker: Remote<NodeWorkerApi>;
  #calibrated = false;
  /** What a node without WebGPU tells its person, whenever it works. */
  #noGpu = '';
  #configured: Promise<void>;
  #politeness: Politeness;
  #snapshot: NodeSnapshot;
  #finished: { at: number; flops: number }[] = [];
  #workingSince: number | null = null;
  #lockHeld = false;
  #account: string | null;
  /** This node's side of blob sharing: WebRTC is on the main thread only, so it lives here, not in the worker. */
  #peers!: PeerLink;

  constructor(readonly opts: { url?: string; account: string | null; key?: string; throttle?: number; allowBackground?: boolean; cacheBytes?: number }) {
    super();
    this.db = openNodeDb();
    this.cache = new DexieBlobCache(this.db, opts.cacheBytes);
    this.#account = opts.account;
    this.worker = wrap<NodeWorkerApi>(new Worker(new URL('../worker/node-worker.ts', import.meta.url), { type: 'module', name: 'supernet-node' }));
    this.#configured = Promise.all([
      this.worker.configure({ url: opts.url ?? location.origin, account: opts.account, key: opts.key, cacheBytes: opts.cacheBytes }),
      this.worker.listen(proxy((event: NodeEvent) => this.#onEvent(event))),
    ]).then(() => {});
    this.#snapshot = {
      state: 'idle',
      message: 'Click Start to contribute.',
      pausedBecause: ['you'],
      backend: null,
      adapter: '',
      kernel: '',
      gflopsCalibrated: 0,
      throttle: opts.throttle ?? 1,
      allowBackground: opts.allowBackground ?? false,
      nodeId: null,
      connected: false,
      running: null,
      session: { unitsDone: 0, unitsFailed: 0, unitsRefused: 0, flopsDone: 0, contributedMs: 0, clickedAt: null, firstAcceptedAt: null },
      throughput: [],
      keptResults: 0,
      blobs: { fromPeers: 0, fromCoordinator: 0, toPeers: 0 },
      sharing: false,
    };
    this.#peers = new PeerLink({
      Peer,
      url: opts.url ?? location.origin,
      get: (sha) => this.worker.cached(sha),
      allowed: () => this.#snapshot.state === 'working',
      onServed: (bytes) => void this.worker.countServed(bytes),
      // Named to peers only while they can reach it (while paused, the runtime says it serves no one).
      onOpen: (open) => void this.worker.setServing(open),
    });
    void this.#configured.then(() =>
      this.worker.setPeerSource(
        proxy({
          fetch: async (sha: string, from: string[]) => {
            const got = await this.#peers.fetch(sha, from);
            return got.bytes ? transfer(got, [got.bytes.buffer]) : got;
          },
        }),
      ),
    );
    // Before Start, the page shows the device this browser measured last time.
    void this.#configured.then(async () => {
      const known = await this.worker.rememberedDevice();
      if (known && !this.#snapshot.adapter) this.#update({ backend: 'webgpu', adapter: known.adapter, kernel: known.kernel, gflopsCalibrated: known.gflops });
    });
    this.#politeness = new Politeness({ allowBackground: this.#snapshot.allowBackground, onChange: () => this.#applyPoliteness() });
    setInterval(() => this.#sample(), sampleEveryMs);
  }

  get snapshot(): NodeSnapshot {
    const s = this.#snapshot;
    const live = this.#workingSince === null ? 0 : performance.now() - this.#workingSince;
    return { ...s, sharing: this.#peers.open, blobs: { ...s.blobs }, pausedBecause: [...this.#politeness.reasons], session: { ...s.session, contributedMs: s.session.contributedMs + live }, throughput: [...s.throughput] };
  }

  #update(patch: Partial<NodeSnapshot>) {
    Object.assign(this.#snapshot, patch);
    this.dispatchEvent(new Event('change'));
  }

  /** Results kept from before a reload, being delivered: said done when the last is answered. */
  #keptAtLoad = 0;

  /** At page load: results finished before a reload are delivered, without starting any work. */
  async deliverKept() {
    await this.#configured;
    const kept = await this.worker.keptResults();
    this.#update({ keptResults: kept });
    // A reload releases the old page's lock as it unloads: wait a moment for it.
    if (!kept || !(await this.#takeLock(3000))) return;
    this.#keptAtLoad = kept;
    this.#update({ message: `Sending ${kept} result${kept === 1 ? '' : 's'} finished before the page was reloaded…` });
    await this.worker.deliverKept();
  }

  /** The Start button. Calibrates on the first click, then works while nothing says pause. */
  async start() {
    if (!this.#snapshot.session.clickedAt) this.#snapshot.session.clickedAt = performance.now();
    if (!(await this.#takeLock())) {
      this.#update({ state: 'error', message: 'Supernet is already contributing in another tab of this browser: one node per browser is enough for one GPU.' });
      return;
    }
    if (!this.#calibrated) {
      this.#update({ state: 'calibrating', message: 'Measuring this device…' });
      try {
        await this.#calibrate();
      } catch (err) {
        this.#update({ state: 'error', message: `Could not calibrate the GPU: ${(err as Error).message}` });
        return;
      }
    }
    this.#politeness.setUserPaused(false);
    this.#applyPoliteness();
  }

  pause() {
    this.#politeness.setUserPaused(true);
  }

  async setThrottle(share: number) {
    this.#update({ throttle: share });
    await this.worker.setThrottle(share);
  }

  /** Work only within these hours, local time ("22:00-07:00"); null: at any hour. */
  setSchedule(schedule: Schedule | null) {
    this.#politeness.setSchedule(schedule);
  }

  setAllowBackground(allow: boolean) {
    this.#update({ allowBackground: allow });
    this.#politeness.setAllowBackground(allow);
  }

  /** The node's id and token once connected (for its own figures). */
  credentials() {
    return this.worker.credentials();
  }

  /** Takes the one-node-per-browser lock, now or within `waitMs`; false when another tab holds it. */
  async #takeLock(waitMs = 0): Promise<boolean> {
    if (this.#lockHeld || !navigator.locks) return (this.#lockHeld = true);
    return new Promise((resolve) => {
      const options: LockOptions = waitMs ? { signal: AbortSignal.timeout(waitMs) } : { ifAvailable: true };
      navigator.locks
        .request(lockName, options, (lock) => {
          if (!lock) return resolve(false);
          this.#lockHeld = true;
          resolve(true);
          return new Promise(() => {}); // held for the life of the page
        })
        // Timed out waiting: another tab has it. Refused outright (a frame denied storage): no lock to take, go on.
        .catch((err: Error) => resolve(err.name !== 'AbortError' && err.name !== 'TimeoutError'));
    });
  }

  async #calibrate() {
    await this.#configured;
    const { opened, tuning, remembered } = await this.worker.calibrate();
    await this.worker.setThrottle(this.#snapshot.throttle);
    this.#calibrated = true;
    if (opened.backend === 'cpu') this.#noGpu = `This browser has no WebGPU (${opened.why}), so this node computes in JavaScript on the CPU: it works, far more slowly. Chrome or Edge 113+ on a machine with a GPU does much better.`;
    const adapter = opened.adapter.description || [opened.adapter.vendor, opened.adapter.architecture].filter(Boolean).join(' ') || 'WebGPU adapter';
    this.#update({
      backend: opened.backend,
      adapter,
      kernel: `${tuning.config.kernel} ${tuning.config.wg.join('×')}`,
      gflopsCalibrated: tuning.gflops,
      message: opened.backend === 'cpu' ? this.#noGpu : `Calibrated: ${tuning.gflops.toFixed(1)} GFLOP/s${remembered ? ' (remembered)' : ''}.`,
    });
  }

  #applyPoliteness() {
    const reasons = [...this.#politeness.reasons];
    const working = reasons.length === 0 && this.#calibrated;
    if (working) {
      void this.worker.resume();
      this.#workingSince ??= performance.now();
      this.#update({ state: 'working', message: this.#snapshot.backend === 'cpu' ? `Contributing on the CPU. ${this.#noGpu}` : 'Contributing: your GPU runs units of other people\'s jobs.' });
    } else {
      void this.worker.pause();
      if (this.#workingSince !== null) this.#snapshot.session.contributedMs += performance.now() - this.#workingSince;
      this.#workingSince = null;
      if (this.#calibrated) this.#update({ state: 'paused', message: pauseMessage(reasons, this.#politeness) });
      else this.dispatchEvent(new Event('change'));
    }
  }

  #onEvent(event: NodeEvent) {
    const now = performance.now();
    this.events.push({ at: now, event });
    if (this.events.length > 2000) this.events.splice(0, 500);
    const s = this.#snapshot.session;
    switch (event.type) {
      case 'connected':
        this.#update({ nodeId: event.nodeId, connected: true });
        if (event.peers) void this.#share(event.peers);
        return;
      case 'disconnected':
        this.#update({ connected: false, message: `Connection lost; trying again in ${Math.ceil(event.retryMs / 1000)} s.` });
        return;
      case 'running':
        this.#update({ running: { unitId: event.unit.id, kind: event.unit.kind, what: event.what ?? `a ${event.unit.kind} unit`, since: now } });
        return;
      case 'finished':
        if (event.ok) this.#finished.push({ at: now, flops: event.unit.flops });
        else s.unitsFailed++;
        this.#update({ running: null });
        return;
      case 'ack':
        if (event.status === 'accepted') {
          s.unitsDone++;
          s.firstAcceptedAt ??= now;
          const unit = this.events.find((e) => e.event.type === 'lease' && e.event.attemptId === event.attemptId);
          if (unit?.event.type === 'lease') s.flopsDone += unit.event.unit.flops;
        } else s.unitsRefused++;
        this.#update({ keptResults: Math.max(0, this.#snapshot.keptResults - 1) });
        // The last of the results kept from before a reload has its answer: say so, instead of
        // "Sending…" until the next click (it stayed for good).
        if (this.#keptAtLoad && !this.#snapshot.keptResults) {
          if (this.#snapshot.state === 'idle') this.#update({ message: `Delivered the ${this.#keptAtLoad} result${this.#keptAtLoad === 1 ? '' : 's'} finished before the page was reloaded. Press Start to go on contributing.` });
          this.#keptAtLoad = 0;
        }
        return;
      default:
        this.dispatchEvent(new Event('change'));
    }
  }

  /** Registers with the coordinator's peer signalling (after each welcome), then serves while working. */
  async #share(server: PeerServer) {
    try {
      const credentials = await this.worker.credentials();
      if (!credentials) return;
      await this.#peers.connect(server, credentials.nodeId, credentials.token);
      this.#update({ sharing: true });
    } catch (err) {
      // Blobs then come from the coordinator alone: slower for it, the same for this node.
      console.warn(`supernet: no peer-to-peer sharing (${(err as Error).message})`);
      this.#update({ sharing: false });
    }
  }

  /** GFLOP/s over the last few seconds, one sample a second, for the live chart. */
  #sample() {
    const now = performance.now();
    const windowMs = 5000;
    this.#finished = this.#finished.filter((f) => now - f.at <= windowMs);
    const flops = this.#finished.reduce((sum, f) => sum + f.flops, 0);
    const samples = this.#snapshot.throughput;
    if (this.#snapshot.state !== 'idle') void this.worker.blobBytes().then((blobs) => (this.#snapshot.blobs = blobs));
    if (this.#snapshot.state !== 'idle' || samples.length) {
      samples.push({ at: Date.now(), gflops: flops / (windowMs / 1000) / 1e9 });
      if (samples.length > samplesKept) samples.shift();
      this.dispatchEvent(new Event('change'));
    }
  }
}

function pauseMessage(reasons: PauseReason[], politeness: Politeness): string {
  if (reasons.includes('schedule') && !reasons.includes('you')) return `Paused outside your hours (${politeness.schedule!.text}): it goes on by itself ${politeness.nextOpening()}.`;
  if (reasons.includes('battery')) return 'Paused: the battery is low and not charging. It goes on by itself when it charges.';
  if (reasons.includes('hidden')) return 'Paused while this tab is hidden. Tick "keep working in the background" to allow it.';
  return 'Paused. Click Start to go on.';
}
