import Dexie, { type EntityTable } from 'dexie';
import type { BlobCache, Identity, IdentityStore, KeptResult, ResultStore } from '../../server/agent/stores.ts';
import type { Tuning } from '../../workloads/matmul/autotune.ts';

/**
 * What the browser node keeps in IndexedDB (through Dexie), so that a reload or a crash costs
 * at most the unit in flight:
 *   blobs    input panels, least recently used evicted past a size cap (a panel shared by many
 *            units is fetched once, also across reloads)
 *   results  finished results (frame + bytes) until the coordinator acknowledges them
 *   tuning   the autotuned matmul config per adapter (calibration is ~3 s on SwiftShader)
 *   meta     the node's id and token, so a reload resumes the same node and its leases
 */
interface BlobRow {
  sha: string;
  bytes: Uint8Array;
}
/** Kept apart from the bytes, so eviction reads a few numbers instead of every blob. */
interface BlobMetaRow {
  sha: string;
  size: number;
  usedAt: number;
}
interface TuningRow {
  adapter: string;
  tuning: Tuning;
}
interface MetaRow {
  key: string;
  value: unknown;
}

export type NodeDb = Dexie & {
  blobs: EntityTable<BlobRow, 'sha'>;
  blobMeta: EntityTable<BlobMetaRow, 'sha'>;
  results: EntityTable<KeptResult, 'attemptId'>;
  tuning: EntityTable<TuningRow, 'adapter'>;
  meta: EntityTable<MetaRow, 'key'>;
};

export function openNodeDb(name = 'supernet-node'): NodeDb {
  const db = new Dexie(name) as NodeDb;
  db.version(1).stores({ blobs: 'sha', blobMeta: 'sha, usedAt', results: 'attemptId', tuning: 'adapter', meta: 'key' });
  return db;
}

/** 256 MiB by default: a few dozen panels of a large product. */
export const blobCacheBytesDefault = 256 * 1024 * 1024;

export class DexieBlobCache implements BlobCache {
  /** Blobs fetched over the network and put here (a page can show it; tests count it). */
  puts = 0;

  constructor(private readonly db: NodeDb, private readonly bytesMax = blobCacheBytesDefault) {}

  async get(sha: string) {
    const row = await this.db.blobs.get(sha);
    if (!row) return undefined;
    await this.db.blobMeta.update(sha, { usedAt: Date.now() });
    return row.bytes;
  }

  async put(sha: string, bytes: Uint8Array) {
    this.puts++;
    await this.db.transaction('rw', this.db.blobs, this.db.blobMeta, async () => {
      await this.db.blobs.put({ sha, bytes });
      await this.db.blobMeta.put({ sha, size: bytes.byteLength, usedAt: Date.now() });
      // Least recently used out first until the rest fit; the newest always stays.
      const rows = await this.db.blobMeta.orderBy('usedAt').toArray();
      let total = rows.reduce((sum, r) => sum + r.size, 0);
      for (const row of rows) {
        if (total <= this.bytesMax) break;
        if (row.sha === sha) continue;
        await this.db.blobs.delete(row.sha);
        await this.db.blobMeta.delete(row.sha);
        total -= row.size;
      }
    });
  }

  /** The blobs kept, least recently used first. */
  async keys(): Promise<string[]> {
    return (await this.db.blobMeta.orderBy('usedAt').primaryKeys()) as string[];
  }
}

export class DexieResultStore implements ResultStore {
  constructor(private readonly db: NodeDb) {}

  async keep(result: KeptResult) {
    await this.db.results.put(result);
  }

  async drop(attemptId: string) {
    await this.db.results.delete(attemptId);
  }

  all() {
    return this.db.results.toArray();
  }
}

/** The node's id and token, per account (a node resumed under another account is refused anyway). */
export class DexieIdentityStore implements IdentityStore {
  constructor(private readonly db: NodeDb, private readonly account: string) {}

  async load() {
    return ((await this.db.meta.get(`identity:${this.account}`))?.value as Identity | undefined) ?? null;
  }

  async save(identity: Identity) {
    await this.db.meta.put({ key: `identity:${this.account}`, value: identity });
  }
}
