import type { DataConnection, Peer as PeerJs, PeerOptions } from 'peerjs';
import { PeerBlobError, requestBlob, serveBlobs, type BlobChannel } from './p2p.ts';
import type { PeerFetch, PeerServer, PeerSource } from './runtime.ts';

/**
 * One node's side of blob sharing (#18): a PeerJS peer registered on the coordinator's
 * signalling server under the node's id and token. It serves the node's cache to peers that
 * connect, and fetches blobs from the peers a lease names (the runtime's PeerSource), over one
 * data channel per peer, reused (server/agent/p2p.ts moves the bytes). Isomorphic: the browser
 * node holds it on the page's main thread (RTCPeerConnection is not in workers); an agent holds
 * it with a WebRTC implementation for Node. The PeerJS class is passed in, so neither bundles
 * the other's way of loading it.
 *
 * Link
 *   closed ──connect(nodeId, token)──▶ opening ──open──▶ open ──socket lost / destroyed──▶ closed
 * A coordinator's next welcome connects it again. A peer that cannot be reached (its NAT, its
 * tab closed) is passed by for `unreachableMs`; one whose transfer fails loses its channel.
 */
export interface PeerLinkOptions {
  /** PeerJS's Peer class. */
  Peer: typeof PeerJs;
  /** The coordinator's origin (http or https). */
  url: string;
  /** The node's blob cache. */
  get(sha: string): Promise<Uint8Array | undefined>;
  /** Whether to serve now (the node's politeness: a paused node serves nothing). */
  allowed(): boolean;
  onServed?(bytes: number): void;
  /** The link is open (registered with the signalling server), or no longer: the node serves peers only while it is. */
  onOpen?(open: boolean): void;
  log?(line: string): void;
  /** How long a data channel may take to open (WebRTC's ICE on a loaded machine: a few hundred ms). */
  connectMs?: number;
  /** A transfer is given up after this long without a byte. */
  idleMs?: number;
}

const unreachableMs = 10 * 60_000;

/** Connections to one peer that a blob is striped over (server/agent/p2p.ts: lanes). */
const lanesPerPeer = 4;
const laneGraceMs = 500;

interface Channel {
  open: Promise<BlobChannel[]>;
  /** Transfers to one peer go one after another (the frames carry no transfer id). */
  turn: Promise<unknown>;
  conns: DataConnection[];
}

export class PeerLink implements PeerSource {
  #peer: PeerJs | null = null;
  /** A connect under way: the first leases come with the welcome, before the peer is open. */
  #opening: Promise<void> | null = null;
  #channels = new Map<string, Channel>();
  #unreachable = new Map<string, number>();
  /** Failures PeerJS reports on the peer rather than the connection ("Could not connect to peer <id>"). */
  #unavailable = new Set<(message: string) => void>();

  constructor(private readonly opts: PeerLinkOptions) {}

  get open(): boolean {
    return !!this.#peer?.open;
  }

  /** Registers as `nodeId` on the coordinator's PeerJS server; resolves once open. */
  connect(server: PeerServer, nodeId: string, token: string, timeoutMs = 10_000): Promise<void> {
    if (this.#peer?.open && this.#peer.id === nodeId) return Promise.resolve();
    const opening = this.#open(server, nodeId, token, timeoutMs);
    this.#opening = opening;
    void opening.catch(() => {}).finally(() => this.#opening === opening && (this.#opening = null));
    return opening;
  }

  async #open(server: PeerServer, nodeId: string, token: string, timeoutMs: number): Promise<void> {
    this.close();
    const url = new URL(this.opts.url);
    const secure = url.protocol === 'https:';
    const options: PeerOptions = {
      host: url.hostname,
      port: Number(url.port || (secure ? 443 : 80)),
      path: server.path,
      key: server.key,
      token,
      secure,
      debug: 0,
      config: { iceServers: server.iceServers.map((urls) => ({ urls })) },
    };
    const peer = new this.opts.Peer(nodeId, options);
    this.#peer = peer;
    peer.on('connection', (conn) => {
      conn.on('open', () => serveBlobs(conn.dataChannel, (sha) => this.opts.get(sha), { allowed: () => this.opts.allowed(), onServed: this.opts.onServed }));
    });
    peer.on('error', (err) => {
      if (err.type === 'peer-unavailable') for (const waiter of this.#unavailable) waiter(err.message);
    });
    peer.on('disconnected', () => {
      if (this.#peer === peer) this.close();
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the signalling server did not answer in ${timeoutMs} ms`)), timeoutMs);
      peer.once('open', () => {
        clearTimeout(timer);
        resolve();
        this.opts.onOpen?.(true);
      });
      peer.once('error', (err) => (clearTimeout(timer), reject(new Error(`peer signalling: ${err.type}`))));
    }).catch((err: Error) => {
      if (this.#peer === peer) this.close();
      throw err;
    });
  }

  close() {
    const peer = this.#peer;
    this.#peer = null;
    this.#channels.clear();
    if (peer?.open) this.opts.onOpen?.(false);
    peer?.destroy();
  }

  /** The blob from the first of `from` that gives it whole (its sha-256 checked), and who failed. */
  async fetch(sha: string, from: string[]): Promise<PeerFetch> {
    const failures: PeerFetch['failures'] = [];
    await this.#opening?.catch(() => {});
    // Channels to every candidate open at once: an unreachable first one costs one connectMs, not one each.
    const candidates = this.#peer?.open ? from.filter((nodeId) => (this.#unreachable.get(nodeId) ?? 0) <= Date.now()) : [];
    const channels = candidates.map((nodeId) => [nodeId, this.#channel(nodeId)] as const);
    for (const [nodeId, channel] of channels) {
      try {
        await channel.open;
      } catch (err) {
        this.opts.log?.(`peer ${nodeId} unreachable: ${(err as Error).message}`);
        this.#unreachable.set(nodeId, Date.now() + unreachableMs);
        failures.push({ nodeId, kind: 'unreachable' });
        continue;
      }
      const transfer = channel.turn.then(async () => requestBlob(await channel.open, sha, { idleMs: this.opts.idleMs ?? 5000 }));
      channel.turn = transfer.catch(() => {});
      try {
        return { bytes: await transfer, failures };
      } catch (err) {
        const kind = err instanceof PeerBlobError ? err.kind : 'gone';
        failures.push({ nodeId, kind });
        // After a lie, a loss or a stall the channel is not trusted to be in step: a fresh one next time.
        if (kind !== 'none') this.#drop(nodeId);
      }
    }
    return { failures };
  }

  /**
   * The lanes to `nodeId`: `lanesPerPeer` PeerJS connections (each its own RTCPeerConnection)
   * opened at once; ready with those open when all have settled, or `laneGraceMs` after the
   * first opened; unreachable when none opens.
   */
  #channel(nodeId: string): Channel {
    const known = this.#channels.get(nodeId);
    if (known) return known;
    const channel: Channel = { turn: Promise.resolve(), conns: [], open: Promise.resolve([]) };
    const peer = this.#peer;
    const connectMs = this.opts.connectMs ?? 5000;
    const lane = (): Promise<BlobChannel> =>
      new Promise((resolve, reject) => {
        if (!peer) return reject(new Error('not connected to the signalling server'));
        const conn = peer.connect(nodeId, { serialization: 'raw', reliable: true });
        channel.conns.push(conn);
        const done = (err?: Error) => {
          clearTimeout(timer);
          this.#unavailable.delete(unavailable);
          if (err) reject(err);
          else resolve(conn.dataChannel);
        };
        const unavailable = (message: string) => message.includes(nodeId) && done(new Error('not connected to the signalling server now'));
        this.#unavailable.add(unavailable);
        const timer = setTimeout(() => done(new Error(`no data channel in ${connectMs} ms`)), connectMs);
        conn.on('open', () => done());
        conn.on('error', (err) => done(new Error(err.message)));
        // A lane lost: the peer's lanes are opened afresh for the next transfer.
        conn.on('close', () => this.#channels.get(nodeId) === channel && this.#drop(nodeId));
      });
    channel.open = new Promise<BlobChannel[]>((resolve, reject) => {
      const open: BlobChannel[] = [];
      let settled = 0;
      let grace: ReturnType<typeof setTimeout> | undefined;
      const finish = () => {
        clearTimeout(grace);
        if (open.length) resolve(open);
        else reject(new Error(`no data channel in ${connectMs} ms`));
      };
      for (let i = 0; i < lanesPerPeer; i++) {
        lane().then(
          (dc) => {
            open.push(dc);
            grace ??= setTimeout(finish, laneGraceMs);
          },
          () => {},
        ).finally(() => ++settled === lanesPerPeer && finish());
      }
    });
    channel.open.catch(() => this.#channels.get(nodeId) === channel && this.#drop(nodeId));
    this.#channels.set(nodeId, channel);
    return channel;
  }

  #drop(nodeId: string) {
    const channel = this.#channels.get(nodeId);
    this.#channels.delete(nodeId);
    for (const conn of channel?.conns ?? []) conn.close();
  }
}
