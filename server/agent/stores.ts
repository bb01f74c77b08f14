import type { NodeMessage } from '../protocol/messages.ts';

/**
 * Where a node runtime keeps what must outlive a unit: input blobs (so a panel shared by many
 * units is fetched once), finished results until the coordinator acknowledges them, and the
 * node's own id and token. The agent keeps them in memory; the browser node in IndexedDB
 * (web/node/store.ts), so a reload loses nothing but the unit in flight.
 */
export type ResultFrame = Extract<NodeMessage, { type: 'result' | 'fail' }>;

export interface BlobCache {
  get(sha: string): Promise<Uint8Array | undefined>;
  put(sha: string, bytes: Uint8Array): Promise<void>;
  /** The blobs kept, least recently used first (what a node says it holds, for peers). */
  keys?(): Promise<string[]>;
}

/** A finished attempt: its frame, and its output bytes until they are uploaded. */
export interface KeptResult {
  attemptId: string;
  frame: ResultFrame;
  bytes?: Uint8Array;
}

export interface ResultStore {
  keep(result: KeptResult): Promise<void>;
  drop(attemptId: string): Promise<void>;
  all(): Promise<KeptResult[]>;
}

export interface Identity {
  nodeId: string;
  token: string;
}

export interface IdentityStore {
  load(): Promise<Identity | null>;
  save(identity: Identity): Promise<void>;
}

/** Least recently used blobs go first once the total passes `bytesMax` (the newest always stays). */
export class MemoryBlobCache implements BlobCache {
  #blobs = new Map<string, Uint8Array>();
  #bytes = 0;

  constructor(private readonly bytesMax: number) {}

  async get(sha: string) {
    const bytes = this.#blobs.get(sha);
    if (bytes) {
      this.#blobs.delete(sha);
      this.#blobs.set(sha, bytes); // most recently used last
    }
    return bytes;
  }

  async keys() {
    return [...this.#blobs.keys()];
  }

  async put(sha: string, bytes: Uint8Array) {
    if (this.#blobs.has(sha)) return;
    this.#blobs.set(sha, bytes);
    this.#bytes += bytes.byteLength;
    for (const [oldest, old] of this.#blobs) {
      if (this.#bytes <= this.bytesMax || this.#blobs.size <= 1) break;
      this.#blobs.delete(oldest);
      this.#bytes -= old.byteLength;
    }
  }
}

export class MemoryResultStore implements ResultStore {
  #kept = new Map<string, KeptResult>();

  async keep(result: KeptResult) {
    this.#kept.set(result.attemptId, result);
  }

  async drop(attemptId: string) {
    this.#kept.delete(attemptId);
  }

  async all() {
    return [...this.#kept.values()];
  }
}

/**
 * A memory tier in front of a persistent cache: units of one row or column reuse a panel
 * back to back, and reading 4 MiB from IndexedDB for each of them cost ~100 ms a unit.
 */
export class TieredBlobCache implements BlobCache {
  readonly hot: MemoryBlobCache;

  constructor(private readonly cold: BlobCache, hotBytes: number) {
    this.hot = new MemoryBlobCache(hotBytes);
  }

  async get(sha: string) {
    const hot = await this.hot.get(sha);
    if (hot) return hot;
    const cold = await this.cold.get(sha);
    if (cold) await this.hot.put(sha, cold);
    return cold;
  }

  async put(sha: string, bytes: Uint8Array) {
    await this.hot.put(sha, bytes);
    await this.cold.put(sha, bytes);
  }

  async keys() {
    return (await this.cold.keys?.()) ?? this.hot.keys();
  }
}
