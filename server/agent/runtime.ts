import { coordinatorMessage, haveMax, inlineBytesMax, protocolVersion, type Capabilities, type CoordinatorMessage, type NodeMessage, type UnitPayload } from '../protocol/messages.ts';
import type { PeerFailure } from './p2p.ts';
import { MemoryBlobCache, MemoryResultStore, type BlobCache, type IdentityStore, type KeptResult, type ResultFrame, type ResultStore } from './stores.ts';

export * from './stores.ts';

/**
 * The node runtime: connection, work loop, prefetch, heartbeats, resubmission, pause. It uses
 * only the standard WebSocket, fetch and crypto.subtle APIs, so the headless agent and the
 * browser node (web/node/) share it; each host supplies `connect` and `execute`, and where to
 * keep blobs, unacknowledged results and its identity (memory for the agent, IndexedDB in a tab).
 *
 * Runtime connection
 *   connecting ──open──▶ hello sent ──welcome──▶ working ──close──▶ waiting (backoff) ──▶ connecting
 * Leases it holds survive a reconnect: hello names them (`holding`), and the coordinator
 * releases any other lease of the node at once, instead of letting it lapse. Finished results
 * are kept (with their bytes, until uploaded) until acknowledged and sent again after the next
 * welcome — also after a reload, from the host's ResultStore; the attempt id and token make
 * that safe to repeat.
 *
 * Inputs: from the cache; else from the peers the lease names, when the host has a PeerSource
 * (a WebRTC side: server/agent/peer-link.ts, on a tab's page or in an agent); else, and whenever the peers fail, from the
 * coordinator over HTTP. A host that serves its cache to peers says so (setServing), and the
 * runtime then tells the coordinator which blobs it holds (`have`), as they arrive.
 *
 * Work                          pause()                       resume()
 *   requesting ◀──────────────────────────────▶ paused ─────────────▶ requesting
 * Paused: the coordinator is told to lease nothing more (`pause`), leases waiting in the queue
 * are released to other nodes (`release`), and only the unit already running finishes.
 */

export interface RuntimeOptions {
  url: string;
  /** API key; its account earns the work. Without one the node is anonymous (or signed in by cookie, in a browser). */
  key?: string;
  name?: string;
  capabilities: Capabilities;
  connect(url: string, headers: Record<string, string>): WebSocket;
  execute(unit: UnitPayload, inputs: Uint8Array[]): Promise<Uint8Array>;
  /** Leases held at once: one running, the rest prefetching their inputs. */
  slots?: number;
  /** The least credits per GFLOP this node works for (sent in hello). */
  ask?: number;
  log?: (line: string) => void;
  /** Where input blobs are kept between units (default: 256 MiB in memory). */
  cache?: BlobCache;
  /** Where finished results wait for their acknowledgement (default: memory). */
  results?: ResultStore;
  /** Where the node's id and token are kept, so a restart resumes the same node. */
  identity?: IdentityStore;
  /** Blobs from other nodes (#18): tried before the coordinator for inputs a lease names peers for. */
  peers?: PeerSource;
  /** Start paused: deliver kept results, lease nothing until resume(). */
  paused?: boolean;
  onEvent?: (event: NodeEvent) => void;
}

/** The host's way to other nodes: a WebRTC data channel to each (server/agent/p2p.ts moves the bytes). */
export interface PeerSource {
  /** The blob `sha` from the first of `from` (node ids) that gives it whole; and who failed, and how. */
  fetch(sha: string, from: string[]): Promise<PeerFetch>;
}
export interface PeerFetch {
  bytes?: Uint8Array;
  failures: { nodeId: string; kind: PeerFailure | 'unreachable' }[];
}
/** Where the coordinator's PeerJS server is (in its welcome, when it shares blobs peer to peer). */
export interface PeerServer {
  path: string;
  key: string;
  /** STUN/TURN URLs to reach peers through (SUPERNET_ICE_SERVERS). */
  iceServers: string[];
}

/** What a runtime tells its host, for logs, stats and pages. */
export type NodeEvent =
  | { type: 'connected'; nodeId: string; accountId: string | null; peers?: PeerServer }
  | { type: 'disconnected'; retryMs: number }
  | { type: 'lease'; attemptId: string; unit: UnitPayload }
  /** `what`: the unit in words, where the host knows its kind (workloads/<kind>/node.ts). */
  | { type: 'running'; attemptId: string; unit: UnitPayload; what?: string }
  | { type: 'finished'; attemptId: string; unit: UnitPayload; ms: number; ok: boolean; reason?: string }
  | { type: 'ack'; attemptId: string; status: 'accepted' | 'refused'; reason?: string }
  | { type: 'released'; attemptId: string; reason: string }
  | { type: 'paused' | 'resumed' | 'stopped' };

type LeaseMsg = Extract<CoordinatorMessage, { type: 'lease' }>;

const backoffMs = { first: 250, max: 10_000 };
/** Blobs said held after a (re)connection at most: the coordinator keeps 10,000 a holder. */
const haveAllMax = 2000;

export class NodeRuntime {
  readonly stats = { unitsDone: 0, unitsRefused: 0, unitsFailed: 0, reconnects: 0, bytesFromPeers: 0, bytesFromCoordinator: 0, bytesToPeers: 0 };
  /** The byte counts last said in a heartbeat: the next says what moved since. */
  #bytesSaid = { fromPeers: 0, fromCoordinator: 0, toPeers: 0 };
  /** Peers named by leases for their inputs, until the input is here. */
  #peerHints = new Map<string, string[]>();
  /** The host serves this node's cache to peers: the coordinator is told what it holds. */
  #serving = false;
  #haveQueue: string[] = [];
  nodeId: string | null = null;
  #nodeToken: string | null = null;
  #ws: WebSocket | null = null;
  #stopped = false;
  #paused: boolean;
  #backoff = backoffMs.first;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #queue: LeaseMsg[] = [];
  #running: LeaseMsg | null = null;
  #cancelled = new Set<string>();
  /** Finished, not yet acknowledged: attempt id → result frame. */
  #unacked = new Map<string, ResultFrame>();
  /** Attempts acknowledged lately, so a stale read of the ResultStore does not revive them. */
  #acked = new Set<string>();
  #fetching = new Map<string, Promise<Uint8Array>>();
  #cache: BlobCache;
  #results: ResultStore;
  #wake: (() => void) | null = null;
  #reconnectNow = false;

  constructor(private readonly opts: RuntimeOptions) {
    this.#paused = opts.paused ?? false;
    this.#cache = opts.cache ?? new MemoryBlobCache(256 * 1024 * 1024);
    this.#results = opts.results ?? new MemoryResultStore();
  }

  get paused() {
    return this.#paused;
  }

  /** The node's bearer secret (`snn_…`) once welcomed: for its uploads and its own stats. */
  get nodeToken() {
    return this.#nodeToken;
  }

  async start() {
    const known = await this.opts.identity?.load().catch(() => null);
    if (known) [this.nodeId, this.#nodeToken] = [known.nodeId, known.token];
    for (const kept of await this.#results.all()) this.#unacked.set(kept.attemptId, kept.frame);
    this.#connect();
    void this.#workLoop();
  }

  stop() {
    if (!this.#stopped) this.#emit({ type: 'stopped' });
    this.#stopped = true;
    clearInterval(this.#heartbeat);
    this.#ws?.close();
    this.#wake?.();
  }

  /**
   * For a clean exit (SIGTERM): pauses — leases nothing more, releases those not started — lets
   * the running unit finish and waits until every result it holds is acknowledged, then stops.
   * After `timeoutMs` it stops anyway: what is unacknowledged then lapses at its lease deadline
   * and goes to another node, as when a machine dies. True when it left nothing behind.
   */
  async drain(timeoutMs = 60_000): Promise<boolean> {
    this.pause();
    // Without a connection nothing can be acknowledged: only the running unit is waited for.
    const settled = () => this.#running === null && (this.#unacked.size === 0 || this.#ws?.readyState !== 1);
    const clean = settled() || (await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.#settledWaiters.push(() => {
        if (!settled()) return false;
        clearTimeout(timer);
        resolve(true);
        return true;
      });
    }));
    this.stop();
    return clean;
  }

  #settledWaiters: (() => boolean)[] = [];
  #checkSettled() {
    this.#settledWaiters = this.#settledWaiters.filter((check) => !check());
  }

  /** Leases nothing more; releases leases not yet started; the running unit finishes. */
  pause() {
    if (this.#paused) return;
    this.#paused = true;
    this.#send({ type: 'pause' });
    // A paused node serves no peers: said, rather than be named to nodes it would answer "none".
    if (this.#serving) this.#send({ type: 'have', blobs: [], serving: false });
    for (const lease of this.#queue.splice(0)) this.#release(lease, 'the node paused');
    this.#emit({ type: 'paused' });
  }

  resume() {
    if (!this.#paused) return;
    this.#paused = false;
    if (this.#serving) void this.#announceAll();
    this.#emit({ type: 'resumed' });
    this.#requestFree();
  }

  /** New capabilities (a calibration finished): said in a fresh hello on a new connection. */
  updateCapabilities(capabilities: Capabilities) {
    this.opts.capabilities = capabilities;
    this.#reconnectNow = true;
    this.#ws?.close();
  }

  #emit(event: NodeEvent) {
    this.opts.onEvent?.(event);
  }

  #log(line: string) {
    this.opts.log?.(line);
  }

  #send(msg: NodeMessage) {
    if (this.#ws?.readyState === 1 /* OPEN */) this.#ws.send(JSON.stringify(msg));
  }

  #release(lease: LeaseMsg, reason: string) {
    this.#send({ type: 'release', attemptId: lease.attemptId, token: lease.token, reason });
    this.#emit({ type: 'released', attemptId: lease.attemptId, reason });
  }

  /** Asks for leases to fill the free slots (none while paused). */
  #requestFree(max = Infinity) {
    if (this.#paused || this.#stopped) return;
    const held = this.#queue.length + (this.#running ? 1 : 0);
    const free = Math.min(max, (this.opts.slots ?? 2) - held);
    if (free > 0) this.#send({ type: 'request', slots: free });
  }

  #connect() {
    if (this.#stopped) return;
    const wsUrl = this.opts.url.replace(/^http/, 'ws').replace(/\/$/, '') + '/api/nodes/ws';
    const ws = this.opts.connect(wsUrl, this.opts.key ? { authorization: `Bearer ${this.opts.key}` } : {});
    this.#ws = ws;
    ws.onopen = () => {
      this.#backoff = backoffMs.first;
      const resume = this.nodeId && this.#nodeToken ? { nodeId: this.nodeId, token: this.#nodeToken } : undefined;
      const holding = [...this.#held(), ...this.#unacked.keys()].slice(0, 64);
      this.#send({ type: 'hello', protocol: protocolVersion, name: this.opts.name, capabilities: this.opts.capabilities, ...(this.opts.ask === undefined ? {} : { ask: this.opts.ask }), resume, ...(resume ? { holding } : {}) });
    };
    ws.onmessage = (event) => this.#onMessage(String(event.data));
    // Node's WebSocket says why a connection failed ("connect ECONNREFUSED …", "Unexpected
    // server response: 401"); a browser's says nothing, and the close is all there is.
    let why = '';
    ws.onerror = (event) => void (why = (event as { message?: string }).message ?? '');
    ws.onclose = (event) => {
      clearInterval(this.#heartbeat);
      if (this.#ws !== ws || this.#stopped) return;
      this.#ws = null;
      this.#checkSettled(); // a drain waits no longer for acknowledgements
      if (this.#reconnectNow) {
        this.#reconnectNow = false;
        return this.#connect();
      }
      if (/\b401\b/.test(why)) {
        // The key was revoked (or never was): trying again cannot help.
        this.#log(`the coordinator refused this node's key (${why}); stopping. Make a key in the portal under "API keys" and start again.`);
        return this.stop();
      }
      this.stats.reconnects++;
      const delay = this.#backoff * (0.75 + Math.random() / 2);
      this.#backoff = Math.min(backoffMs.max, this.#backoff * 2);
      const { code, reason: said } = event as { code?: number; reason?: string };
      const reason = why || said || (code && code !== 1005 ? `code ${code}` : '');
      this.#log(`connection to ${this.opts.url} closed${reason ? ` (${reason})` : ''}; reconnecting in ${Math.round(delay)} ms`);
      this.#emit({ type: 'disconnected', retryMs: delay });
      setTimeout(() => this.#connect(), delay);
    };
  }

  #onMessage(text: string) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return this.#log(`ignored a frame that is not JSON: ${text.slice(0, 200)}`);
    }
    const parsed = coordinatorMessage.safeParse(json);
    if (!parsed.success) return this.#log(`ignored a frame the protocol does not know: ${text.slice(0, 200)}`);
    const msg = parsed.data;
    switch (msg.type) {
      case 'welcome': {
        this.nodeId = msg.nodeId;
        this.#nodeToken = msg.token;
        void this.opts.identity?.save({ nodeId: msg.nodeId, token: msg.token }).catch(() => {});
        this.#log(`connected as node ${msg.nodeId}`);
        this.#emit({ type: 'connected', nodeId: msg.nodeId, accountId: msg.accountId, ...(msg.peers ? { peers: msg.peers } : {}) });
        if (this.#serving && !this.#paused) void this.#announceAll();
        void this.#deliverKept();
        if (this.#paused) this.#send({ type: 'pause' });
        this.#requestFree();
        clearInterval(this.#heartbeat);
        this.#heartbeat = setInterval(() => this.#send({ type: 'heartbeat', attempts: [...this.#held(), ...this.#unacked.keys()].slice(0, 64), ...this.#blobBytes() }), msg.heartbeatMs);
        return;
      }
      case 'lease':
        if (this.#paused) return this.#release(msg, 'the node paused');
        this.#queue.push(msg);
        if (this.#peerHints.size > 1000) this.#peerHints.clear();
        for (const [sha, ids] of Object.entries(msg.peers ?? {})) this.#peerHints.set(sha, ids);
        this.#emit({ type: 'lease', attemptId: msg.attemptId, unit: msg.unit });
        for (const [sha, data] of Object.entries(msg.inline ?? {})) this.#given(sha, data);
        for (const sha of msg.unit.inputs) void this.#input(sha).catch(() => {}); // prefetch
        this.#wake?.();
        return;
      case 'ack':
        if (!this.#unacked.delete(msg.attemptId)) return;
        this.#checkSettled();
        if (this.#acked.size > 1000) this.#acked.clear();
        this.#acked.add(msg.attemptId);
        void this.#results.drop(msg.attemptId).catch(() => {});
        if (msg.status === 'refused') {
          this.stats.unitsRefused++;
          this.#log(`result for ${msg.attemptId} refused: ${msg.reason}`);
        }
        this.#emit({ type: 'ack', attemptId: msg.attemptId, status: msg.status, reason: msg.reason });
        return;
      case 'cancel':
        this.#cancelled.add(msg.attemptId);
        if (this.#queue.some((l) => l.attemptId === msg.attemptId)) {
          this.#queue = this.#queue.filter((l) => l.attemptId !== msg.attemptId);
          this.#emit({ type: 'released', attemptId: msg.attemptId, reason: msg.reason });
          this.#requestFree(1);
        }
        return;
      case 'error':
        this.#log(`coordinator: ${msg.message}`);
    }
  }

  #held(): string[] {
    return [...this.#queue.map((l) => l.attemptId), ...(this.#running ? [this.#running.attemptId] : [])];
  }

  /** Results kept from before (a reconnect, a reload): their bytes uploaded, their frames sent again. */
  async #deliverKept() {
    for (const kept of await this.#results.all().catch(() => [] as KeptResult[])) {
      if (this.#acked.has(kept.attemptId)) continue;
      this.#unacked.set(kept.attemptId, kept.frame);
      await this.#deliver(kept);
    }
  }

  /**
   * Uploads a finished result's bytes (kept until then, so a reload resubmits instead of losing
   * the work) and sends its frame. An upload the coordinator refuses turns into a failure report.
   */
  async #deliver(kept: KeptResult) {
    let frame = kept.frame;
    if (kept.bytes && frame.type === 'result' && kept.bytes.byteLength <= inlineBytesMax) {
      frame = { ...frame, data: toBase64(kept.bytes) };
      await this.#results.keep({ attemptId: kept.attemptId, frame }).catch(() => {});
    } else if (kept.bytes) {
      try {
        await this.#upload(kept.bytes);
        await this.#results.keep({ attemptId: kept.attemptId, frame }).catch(() => {});
      } catch (err) {
        if (this.#stopped) return;
        frame = { type: 'fail', attemptId: frame.attemptId, token: frame.token, reason: (err as Error).message };
        await this.#results.keep({ attemptId: kept.attemptId, frame }).catch(() => {});
      }
    }
    if (this.#unacked.has(kept.attemptId)) this.#unacked.set(kept.attemptId, frame);
    this.#send(frame);
  }

  /**
   * Runs leases one at a time. A finished unit frees its slot at once — the next lease is asked
   * for and the queued one starts — while its result is hashed, kept, uploaded and reported in
   * the background: the GPU does not wait on the network (on SwiftShader here, a serial loop
   * kept the GPU busy 28% of the time; see web/node/).
   */
  async #workLoop() {
    while (!this.#stopped) {
      const lease = this.#queue.shift();
      if (!lease) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        continue;
      }
      this.#running = lease;
      this.#emit({ type: 'running', attemptId: lease.attemptId, unit: lease.unit });
      const started = performance.now();
      let outcome: { bytes: Uint8Array } | { reason: string };
      try {
        const inputs = await Promise.all(lease.unit.inputs.map((sha) => this.#input(sha)));
        outcome = { bytes: await this.opts.execute(lease.unit, inputs) };
        this.stats.unitsDone++;
        this.#emit({ type: 'finished', attemptId: lease.attemptId, unit: lease.unit, ms: performance.now() - started, ok: true });
      } catch (err) {
        const reason = String((err as Error).message);
        outcome = { reason };
        this.stats.unitsFailed++;
        this.#log(`unit ${lease.unit.id} failed: ${reason}`);
        this.#emit({ type: 'finished', attemptId: lease.attemptId, unit: lease.unit, ms: performance.now() - started, ok: false, reason });
      }
      this.#running = null;
      if (this.#cancelled.delete(lease.attemptId)) {
        this.#requestFree(1);
        this.#checkSettled();
        continue;
      }
      const { attemptId, token } = lease;
      const elapsedMs = Math.round(performance.now() - started);
      this.#unacked.set(attemptId, { type: 'fail', attemptId, token, reason: 'not reported yet' });
      this.#requestFree(1);
      this.#checkSettled(); // a drain with no connection waits for the running unit only
      void (async () => {
        const frame: ResultFrame = 'bytes' in outcome
          ? { type: 'result', attemptId, token, output: await sha256Hex(outcome.bytes), elapsedMs }
          : { type: 'fail', attemptId, token, reason: outcome.reason };
        const bytes = 'bytes' in outcome ? outcome.bytes : undefined;
        this.#unacked.set(attemptId, frame);
        // Kept before the upload: a reload from here on resubmits instead of losing the work.
        await this.#results.keep({ attemptId, frame, bytes }).catch(() => {});
        await this.#deliver({ attemptId, frame, bytes });
      })();
    }
  }

  #authHeader(): Record<string, string> {
    const secret = this.opts.key ?? this.#nodeToken;
    return secret ? { authorization: `Bearer ${secret}` } : {};
  }

  /**
   * The host serves (or no longer serves) this node's blobs to peers: the coordinator is told
   * all it holds, and from then on each blob as it arrives; or that it serves none now.
   */
  setServing(on: boolean) {
    if (on === this.#serving) return;
    this.#serving = on;
    if (on && !this.#paused) void this.#announceAll();
    else if (!on) this.#send({ type: 'have', blobs: [], serving: false });
  }

  /**
   * A blob for a peer that asked for it: from the cache, or once the download under way ends (the
   * coordinator names a node for its lease's inputs as soon as it leases them); undefined: not here.
   */
  async cached(sha: string): Promise<Uint8Array | undefined> {
    return (await this.#cache.get(sha).catch(() => undefined)) ?? this.#fetching.get(sha)?.catch(() => undefined);
  }

  /** Blob bytes served to a peer by the host: counted in the node's figures. */
  countServed(bytes: number) {
    this.stats.bytesToPeers += bytes;
  }

  async #announceAll() {
    if (this.#paused) return;
    const keys = (await this.#cache.keys?.().catch(() => [] as string[])) ?? [];
    // The most recently used last: the newest `haveAllMax` are said; an empty cache still says it serves.
    if (!keys.length) this.#send({ type: 'have', blobs: [] });
    this.#announce(keys.slice(-haveAllMax));
  }

  /** Says `have` for these blobs, gathered over one turn of the event loop. */
  #announce(shas: string[]) {
    if (!this.#serving || this.#paused || !shas.length) return;
    const first = this.#haveQueue.length === 0;
    this.#haveQueue.push(...shas);
    if (!first) return;
    setTimeout(() => {
      const all = this.#haveQueue.splice(0);
      for (let i = 0; i < all.length; i += haveMax) this.#send({ type: 'have', blobs: all.slice(i, i + haveMax) });
    }, 0);
  }

  #blobBytes(): { blobBytes?: { fromPeers: number; fromCoordinator: number; toPeers: number } } {
    const now = { fromPeers: this.stats.bytesFromPeers, fromCoordinator: this.stats.bytesFromCoordinator, toPeers: this.stats.bytesToPeers };
    const said = this.#bytesSaid;
    const moved = { fromPeers: now.fromPeers - said.fromPeers, fromCoordinator: now.fromCoordinator - said.fromCoordinator, toPeers: now.toPeers - said.toPeers };
    if (!moved.fromPeers && !moved.fromCoordinator && !moved.toPeers) return {};
    this.#bytesSaid = now;
    return { blobBytes: moved };
  }

  /** From the peers a lease named: bytes that hash to `sha`, or undefined (and each failure reported). */
  async #fromPeers(sha: string): Promise<Uint8Array | undefined> {
    const from = this.#peerHints.get(sha);
    if (!from?.length || !this.opts.peers) return undefined;
    const got = await this.opts.peers.fetch(sha, from).catch((err: Error) => {
      this.#log(`peers failed for ${sha.slice(0, 12)}…: ${err.message}`);
      return { failures: [] } as PeerFetch;
    });
    for (const failure of got.failures) {
      if (failure.kind === 'none' || failure.kind === 'bad-bytes') this.#send({ type: 'peer-report', nodeId: failure.nodeId, sha, reason: failure.kind });
      if (failure.kind === 'bad-bytes') this.#log(`peer ${failure.nodeId} served bad bytes for ${sha.slice(0, 12)}…: reported, fetched from the coordinator`);
    }
    // The host checked the hash; checked again here, so that no host's slip reaches a kernel.
    if (got.bytes && (await sha256Hex(got.bytes)) === sha) return got.bytes;
    return undefined;
  }

  /**
   * An input that came inside its lease frame, served to #input as a fetch would be: its hash
   * checked (bytes that do not match are dropped, and the input is fetched), then cached.
   */
  #given(sha: string, data: string) {
    if (this.#fetching.has(sha)) return;
    const got = (async () => {
      const bytes = fromBase64(data);
      if ((await sha256Hex(bytes)) !== sha) throw new Error(`input ${sha.slice(0, 12)}… came damaged inside its lease`);
      return this.#keep(sha, bytes, 'coordinator');
    })().catch((err: Error) => {
      this.#log(`${err.message}: fetching it`);
      this.#fetching.delete(sha);
      return this.#input(sha);
    });
    this.#fetching.set(sha, got);
    void got.finally(() => this.#fetching.get(sha) === got && this.#fetching.delete(sha)).catch(() => {});
  }

  /** An input blob: from the cache, the peers its lease named, or the coordinator; its hash is checked on arrival. */
  #input(sha: string): Promise<Uint8Array> {
    let got = this.#fetching.get(sha);
    if (got) return got;
    got = (async () => {
      const cached = await this.#cache.get(sha).catch(() => undefined);
      if (cached) return cached;
      const shared = await this.#fromPeers(sha);
      this.#peerHints.delete(sha);
      if (shared) return this.#keep(sha, shared, 'peers');
      // While the coordinator is away (a restart, the network) keep trying, as uploads do: a unit
      // whose inputs cannot come yet waits instead of failing (failures count against the unit).
      let res: Response | null = null;
      for (let attempt = 0; ; attempt++) {
        res = await fetch(`${this.opts.url}/api/blobs/${sha}`).catch(() => null);
        if (res && res.status < 500) break;
        if (this.#stopped) throw new Error('stopped');
        await new Promise((resolve) => setTimeout(resolve, Math.min(backoffMs.max, backoffMs.first * 2 ** attempt)));
      }
      if (!res.ok) throw new Error(`input ${sha.slice(0, 12)}… could not be fetched (HTTP ${res.status})`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      if ((await sha256Hex(bytes)) !== sha) throw new Error(`input ${sha.slice(0, 12)}… arrived damaged`);
      return this.#keep(sha, bytes, 'coordinator');
    })();
    this.#fetching.set(sha, got);
    void got.finally(() => this.#fetching.delete(sha)).catch(() => {});
    return got;
  }

  /** An input's bytes that passed their hash check: counted by where they came from, cached, announced to peers. */
  async #keep(sha: string, bytes: Uint8Array, from: 'peers' | 'coordinator'): Promise<Uint8Array> {
    if (from === 'peers') this.stats.bytesFromPeers += bytes.byteLength;
    else this.stats.bytesFromCoordinator += bytes.byteLength;
    await this.#cache.put(sha, bytes).catch(() => {});
    this.#announce([sha]);
    return bytes;
  }

  /** Uploads a result; while the coordinator is away (restart, network) it keeps trying. */
  async #upload(bytes: Uint8Array): Promise<string> {
    const sha = await sha256Hex(bytes);
    for (let attempt = 0; ; attempt++) {
      let res: Response | null = null;
      try {
        res = await fetch(`${this.opts.url}/api/blobs`, {
          method: 'PUT',
          headers: { ...this.#authHeader(), 'content-type': 'application/octet-stream', 'x-content-sha256': sha },
          body: bytes as Uint8Array<ArrayBuffer>,
        });
      } catch {
        // unreachable for now: retry below
      }
      if (res?.ok) return sha;
      if (res && res.status < 500) throw new Error(`upload refused (HTTP ${res.status}): ${await res.text()}`);
      if (this.#stopped) throw new Error('stopped');
      await new Promise((resolve) => setTimeout(resolve, Math.min(backoffMs.max, backoffMs.first * 2 ** attempt)));
    }
  }
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Bytes of base64, in the browser and in Node alike (atob is in both). */
function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Base64 of bytes, in the browser and in Node alike (btoa is in both). */
function toBase64(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}
