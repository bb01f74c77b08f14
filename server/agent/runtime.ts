import { coordinatorMessage, inlineBytesMax, protocolVersion, type Capabilities, type CoordinatorMessage, type NodeMessage, type UnitPayload } from '../protocol/messages.ts';
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
  /** Start paused: deliver kept results, lease nothing until resume(). */
  paused?: boolean;
  onEvent?: (event: NodeEvent) => void;
}

/** What a runtime tells its host, for logs, stats and pages. */
export type NodeEvent =
  | { type: 'connected'; nodeId: string; accountId: string | null }
  | { type: 'disconnected'; retryMs: number }
  | { type: 'lease'; attemptId: string; unit: UnitPayload }
  /** `what`: the unit in words, where the host knows its kind (workloads/<kind>/node.ts). */
  | { type: 'running'; attemptId: string; unit: UnitPayload; what?: string }
  | { type: 'finished'; attemptId: string; unit: UnitPayload; ms: number; ok: boolean; reason?: string }
  | { type: 'ack'; attemptId: string; status: 'accepted' | 'refused'; reason?: string }
  | { type: 'released'; attemptId: string; reason: string }
  | { type: 'paused' | 'resumed' };

type LeaseMsg = Extract<CoordinatorMessage, { type: 'lease' }>;

const backoffMs = { first: 250, max: 10_000 };

export class NodeRuntime {
  readonly stats = { unitsDone: 0, unitsRefused: 0, unitsFailed: 0, reconnects: 0 };
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
    for (const lease of this.#queue.splice(0)) this.#release(lease, 'the node paused');
    this.#emit({ type: 'paused' });
  }

  resume() {
    if (!this.#paused) return;
    this.#paused = false;
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
        this.#emit({ type: 'connected', nodeId: msg.nodeId, accountId: msg.accountId });
        void this.#deliverKept();
        if (this.#paused) this.#send({ type: 'pause' });
        this.#requestFree();
        clearInterval(this.#heartbeat);
        this.#heartbeat = setInterval(() => this.#send({ type: 'heartbeat', attempts: [...this.#held(), ...this.#unacked.keys()].slice(0, 64) }), msg.heartbeatMs);
        return;
      }
      case 'lease':
        if (this.#paused) return this.#release(msg, 'the node paused');
        this.#queue.push(msg);
        this.#emit({ type: 'lease', attemptId: msg.attemptId, unit: msg.unit });
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

  /** An input blob, from the cache or the coordinator; its hash is checked on arrival. */
  #input(sha: string): Promise<Uint8Array> {
    let got = this.#fetching.get(sha);
    if (got) return got;
    got = (async () => {
      const cached = await this.#cache.get(sha).catch(() => undefined);
      if (cached) return cached;
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
      await this.#cache.put(sha, bytes).catch(() => {});
      return bytes;
    })();
    this.#fetching.set(sha, got);
    void got.finally(() => this.#fetching.delete(sha)).catch(() => {});
    return got;
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

/** Base64 of bytes, in the browser and in Node alike (btoa is in both). */
function toBase64(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}
