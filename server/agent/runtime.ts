import { coordinatorMessage, protocolVersion, type Capabilities, type CoordinatorMessage, type NodeMessage, type UnitPayload } from '../protocol/messages.ts';

/**
 * The node runtime: connection, work loop, prefetch, heartbeats, resubmission. It uses only
 * the standard WebSocket, fetch and crypto.subtle APIs, so the headless agent and the
 * browser node share it; each host supplies `connect` and `execute`.
 *
 * Runtime connection
 *   connecting ──open──▶ hello sent ──welcome──▶ working ──close──▶ waiting (backoff) ──▶ connecting
 * Leases it holds survive a reconnect: finished results are kept until acknowledged and sent
 * again after the next welcome (the attempt id and token make that safe to repeat).
 */
export interface RuntimeOptions {
  url: string;
  /** API key; its account earns the work. Without one the node is anonymous. */
  key?: string;
  name?: string;
  capabilities: Capabilities;
  connect(url: string, headers: Record<string, string>): WebSocket;
  execute(unit: UnitPayload, inputs: Uint8Array[]): Promise<Uint8Array>;
  /** Leases held at once: one running, the rest prefetching their inputs. */
  slots?: number;
  /** The least credits per TFLOP this node works for (sent in hello). */
  ask?: number;
  log?: (line: string) => void;
  cacheBytesMax?: number;
}

type LeaseMsg = Extract<CoordinatorMessage, { type: 'lease' }>;

const backoffMs = { first: 250, max: 10_000 };

export class NodeRuntime {
  readonly stats = { unitsDone: 0, unitsRefused: 0, unitsFailed: 0, reconnects: 0 };
  nodeId: string | null = null;
  #nodeToken: string | null = null;
  #ws: WebSocket | null = null;
  #stopped = false;
  #backoff = backoffMs.first;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #queue: LeaseMsg[] = [];
  #running: LeaseMsg | null = null;
  #cancelled = new Set<string>();
  /** Finished, uploaded, not yet acknowledged: attempt id → result frame. */
  #unacked = new Map<string, Extract<NodeMessage, { type: 'result' | 'fail' }>>();
  #cache = new Map<string, Promise<Uint8Array>>();
  #cacheBytes = 0;
  #wake: (() => void) | null = null;

  constructor(private readonly opts: RuntimeOptions) {}

  start() {
    this.#connect();
    void this.#workLoop();
  }

  stop() {
    this.#stopped = true;
    clearInterval(this.#heartbeat);
    this.#ws?.close();
    this.#wake?.();
  }

  #log(line: string) {
    this.opts.log?.(line);
  }

  #send(msg: NodeMessage) {
    if (this.#ws?.readyState === 1 /* OPEN */) this.#ws.send(JSON.stringify(msg));
  }

  #connect() {
    if (this.#stopped) return;
    const wsUrl = this.opts.url.replace(/^http/, 'ws').replace(/\/$/, '') + '/api/nodes/ws';
    const ws = this.opts.connect(wsUrl, this.opts.key ? { authorization: `Bearer ${this.opts.key}` } : {});
    this.#ws = ws;
    ws.onopen = () => {
      this.#backoff = backoffMs.first;
      const resume = this.nodeId && this.#nodeToken ? { nodeId: this.nodeId, token: this.#nodeToken } : undefined;
      this.#send({ type: 'hello', protocol: protocolVersion, name: this.opts.name, capabilities: this.opts.capabilities, ...(this.opts.ask === undefined ? {} : { ask: this.opts.ask }), resume });
    };
    ws.onmessage = (event) => this.#onMessage(String(event.data));
    ws.onerror = () => {};
    ws.onclose = () => {
      clearInterval(this.#heartbeat);
      if (this.#ws !== ws || this.#stopped) return;
      this.#ws = null;
      this.stats.reconnects++;
      const delay = this.#backoff * (0.75 + Math.random() / 2);
      this.#backoff = Math.min(backoffMs.max, this.#backoff * 2);
      this.#log(`connection closed; reconnecting in ${Math.round(delay)} ms`);
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
        this.#log(`connected as node ${msg.nodeId}`);
        for (const frame of this.#unacked.values()) this.#send(frame);
        const held = this.#queue.length + (this.#running ? 1 : 0) + this.#unacked.size;
        const free = (this.opts.slots ?? 2) - held;
        if (free > 0) this.#send({ type: 'request', slots: free });
        clearInterval(this.#heartbeat);
        this.#heartbeat = setInterval(() => this.#send({ type: 'heartbeat', attempts: this.#held() }), msg.heartbeatMs);
        return;
      }
      case 'lease':
        this.#queue.push(msg);
        for (const sha of msg.unit.inputs) void this.#input(sha).catch(() => {}); // prefetch
        this.#wake?.();
        return;
      case 'ack':
        if (!this.#unacked.delete(msg.attemptId)) return;
        if (msg.status === 'refused') {
          this.stats.unitsRefused++;
          this.#log(`result for ${msg.attemptId} refused: ${msg.reason}`);
        }
        this.#send({ type: 'request', slots: 1 });
        return;
      case 'cancel':
        this.#cancelled.add(msg.attemptId);
        if (this.#queue.some((l) => l.attemptId === msg.attemptId)) {
          this.#queue = this.#queue.filter((l) => l.attemptId !== msg.attemptId);
          this.#send({ type: 'request', slots: 1 });
        }
        return;
      case 'error':
        this.#log(`coordinator: ${msg.message}`);
    }
  }

  #held(): string[] {
    return [...this.#queue.map((l) => l.attemptId), ...(this.#running ? [this.#running.attemptId] : [])];
  }

  async #workLoop() {
    while (!this.#stopped) {
      const lease = this.#queue.shift();
      if (!lease) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        continue;
      }
      this.#running = lease;
      let frame: Extract<NodeMessage, { type: 'result' | 'fail' }>;
      try {
        const inputs = await Promise.all(lease.unit.inputs.map((sha) => this.#input(sha)));
        const output = await this.opts.execute(lease.unit, inputs);
        const sha = await this.#upload(output);
        frame = { type: 'result', attemptId: lease.attemptId, token: lease.token, output: sha };
        this.stats.unitsDone++;
      } catch (err) {
        this.stats.unitsFailed++;
        this.#log(`unit ${lease.unit.id} failed: ${(err as Error).message}`);
        frame = { type: 'fail', attemptId: lease.attemptId, token: lease.token, reason: String((err as Error).message) };
      }
      this.#running = null;
      if (this.#cancelled.delete(lease.attemptId)) {
        this.#send({ type: 'request', slots: 1 });
        continue;
      }
      this.#unacked.set(lease.attemptId, frame);
      this.#send(frame);
    }
  }

  #authHeader(): Record<string, string> {
    const secret = this.opts.key ?? this.#nodeToken;
    return secret ? { authorization: `Bearer ${secret}` } : {};
  }

  /** An input blob, from the cache or the coordinator; its hash is checked on arrival. */
  #input(sha: string): Promise<Uint8Array> {
    let got = this.#cache.get(sha);
    if (got) {
      this.#cache.delete(sha);
      this.#cache.set(sha, got); // most recently used last
      return got;
    }
    got = (async () => {
      const res = await fetch(`${this.opts.url}/api/blobs/${sha}`);
      if (!res.ok) throw new Error(`input ${sha.slice(0, 12)}… could not be fetched (HTTP ${res.status})`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      if ((await sha256Hex(bytes)) !== sha) throw new Error(`input ${sha.slice(0, 12)}… arrived damaged`);
      this.#cacheBytes += bytes.byteLength;
      this.#evict();
      return bytes;
    })();
    got.catch(() => this.#cache.delete(sha));
    this.#cache.set(sha, got);
    return got;
  }

  #evict() {
    const max = this.opts.cacheBytesMax ?? 256 * 1024 * 1024;
    for (const [sha, entry] of this.#cache) {
      if (this.#cacheBytes <= max || this.#cache.size <= 2) break;
      this.#cache.delete(sha);
      void entry.then((b) => (this.#cacheBytes -= b.byteLength), () => {});
    }
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
