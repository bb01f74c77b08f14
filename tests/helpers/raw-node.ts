import WebSocket from 'ws';
import { sha256Hex } from '../../server/agent/runtime.ts';
import type { CoordinatorMessage, NodeMessage } from '../../server/protocol/messages.ts';
import { matmulReference } from '../../workloads/matmul/reference.ts';
import { encodeNpy, parseNpy, type Matrix } from '../../shaders/npy.ts';

export type Lease = Extract<CoordinatorMessage, { type: 'lease' }>;

export const capabilities = {
  adapter: { vendor: 'test', architecture: 'cpu', device: 'reference', description: 'CPU reference node' },
  features: [],
  gflops: 1,
  kinds: ['matmul'],
};

/**
 * A node that speaks the real protocol over a real WebSocket, driven step by step by a test,
 * computing with the CPU reference (or lying, when the test says so).
 */
export class RawNode {
  readonly received: CoordinatorMessage[] = [];
  closed: { code: number; reason: string } | null = null;
  #waiters: (() => void)[] = [];

  private constructor(readonly url: string, readonly key: string | undefined, readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.received.push(JSON.parse(String(data)));
      this.#waiters.splice(0).forEach((w) => w());
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: String(reason) };
      this.#waiters.splice(0).forEach((w) => w());
    });
  }

  /** `localAddress` picks the source address (any of 127.0.0.0/8 reaches a local coordinator). */
  static async connect(url: string, key?: string, localAddress?: string): Promise<RawNode> {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/api/nodes/ws', { headers: key ? { authorization: `Bearer ${key}` } : {}, localAddress });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return new RawNode(url, key, ws);
  }

  send(frame: NodeMessage | string) {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Waits for the next message of `type` not yet taken. */
  async next<T extends CoordinatorMessage['type']>(type: T, timeoutMs = 15_000): Promise<Extract<CoordinatorMessage, { type: T }>> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const i = this.received.findIndex((m) => m.type === type);
      if (i >= 0) return this.received.splice(i, 1)[0] as Extract<CoordinatorMessage, { type: T }>;
      if (this.closed || Date.now() > until) throw new Error(`no ${type} (closed: ${JSON.stringify(this.closed)}; got ${JSON.stringify(this.received)})`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  /** The node token from welcome: how an anonymous node authenticates its uploads. */
  nodeToken: string | undefined;

  /** `gflops` is what the node claims to calibrate at; `ask` its least price (credits/GFLOP). */
  async hello(claims: { gflops?: number; ask?: number; kinds?: string[]; resume?: { nodeId: string; token: string }; holding?: string[] } = {}): Promise<Extract<CoordinatorMessage, { type: 'welcome' }>> {
    const { gflops, ask, kinds, resume, holding } = claims;
    this.send({ type: 'hello', protocol: 1, capabilities: { ...capabilities, gflops: gflops ?? capabilities.gflops, kinds: kinds ?? capabilities.kinds }, ...(ask === undefined ? {} : { ask }), ...(resume ? { resume, holding } : {}) });
    const welcome = await this.next('welcome');
    this.nodeToken = welcome.token;
    return welcome;
  }

  async lease(): Promise<Lease> {
    this.send({ type: 'request', slots: 1 });
    return this.next('lease');
  }

  /** The correct output of a matmul unit, from its input panels. */
  async compute(lease: Lease): Promise<Matrix> {
    const [a, b] = await Promise.all(lease.unit.inputs.map(async (sha) => parseNpy(new Uint8Array(await (await fetch(`${this.url}/api/blobs/${sha}`)).arrayBuffer()))));
    return matmulReference(a!, b!);
  }

  /** Uploads `output` (a matrix as .npy, or bytes as they are) and reports it for the lease; returns the ack. */
  async submit(lease: Lease, output: Matrix | Uint8Array, token = lease.token, elapsedMs?: number) {
    const bytes = output instanceof Uint8Array ? output : encodeNpy(output);
    const res = await fetch(`${this.url}/api/blobs`, { method: 'PUT', headers: { authorization: `Bearer ${this.key ?? this.nodeToken}` }, body: bytes as Uint8Array<ArrayBuffer> });
    if (res.status !== 201) throw new Error(`upload failed: ${res.status}`);
    this.send({ type: 'result', attemptId: lease.attemptId, token, output: await sha256Hex(bytes), ...(elapsedMs === undefined ? {} : { elapsedMs }) });
    return this.next('ack');
  }

  /** A result frame with `output` inside it (by default the right one, computed here); `data` replaces the bytes sent. */
  async inlineResult(lease: Lease, output?: Matrix, data?: string) {
    const bytes = encodeNpy(output ?? (await this.compute(lease)));
    return { type: 'result' as const, attemptId: lease.attemptId, token: lease.token, output: await sha256Hex(bytes), data: data ?? Buffer.from(bytes).toString('base64') };
  }

  /** Reports `output` with its bytes inside the frame (no upload); returns the ack. */
  async submitInline(lease: Lease, output: Matrix, data?: string) {
    this.send(await this.inlineResult(lease, output, data));
    return this.next('ack');
  }

  close() {
    this.ws.close();
  }
}
