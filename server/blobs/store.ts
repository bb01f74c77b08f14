import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobBytes } from './bytes.ts';
import type { Db, Trx } from '../db/index.ts';
import { badRequest, notFound, tooLarge } from '../errors.ts';

export const sha256Pattern = /^[0-9a-f]{64}$/;
/** Bytes of blobs `readKnown` keeps in memory. */
const recentBytesMax = 64 * 1024 * 1024;
/** The largest blob kept among them (and served from memory once read). */
const recentBlobMax = recentBytesMax / 16;
/** Hashes `has` remembers (about 10 MB at most). */
const knownMax = 50_000;
/**
 * The largest blob kept in its row rather than in the backend, when its bytes are in hand: the
 * same bound as an output inside a result frame (protocol's inlineBytesMax). A blob stored as
 * a file cost a temporary file, an fsync, a rename and a row, each panel on its own turn of the
 * store: a 500-unit matmul job took 3.5 s to submit beside 48 working nodes.
 */
export const rowBytesMax = 32 * 1024;
/** Rows written by one statement when many small blobs are stored at once. */
const rowsPerInsert = 1000;

/**
 * Content-addressed, immutable bytes, with a row in `blobs` once they are durable in their
 * backend (`bytes.ts`: the data directory's disk, or an S3 bucket every coordinator shares),
 * or, for small outputs that came inside result frames, in the row itself (putSmall). Uploads
 * are spooled to `<data>/blobs/tmp` while hashed. A crash leaves at worst a stray temporary
 * file or an unreferenced object; a row never points at missing bytes.
 */
export class BlobStore {
  readonly dir: string;
  readonly tmpDir: string;

  constructor(dataDir: string, private readonly db: Db, readonly bytesMax: number, readonly bytes: BlobBytes) {
    this.dir = join(dataDir, 'blobs');
    this.tmpDir = join(this.dir, 'tmp');
    mkdirSync(this.tmpDir, { recursive: true });
  }

  #tmp() {
    return join(this.tmpDir, `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  }

  /** Blobs known to be stored, newest last: a blob is never deleted, so a yes stays true.
   * Nodes fetch a unit's inputs with every lease; without it each fetch cost a query. */
  #known = new Set<string>();

  async has(sha256: string): Promise<boolean> {
    if (!sha256Pattern.test(sha256)) return false;
    if (this.#known.has(sha256)) return true;
    const found = !!(await this.db.selectFrom('blobs').select('sha256').where('sha256', '=', sha256).executeTakeFirst());
    if (found) this.#know(sha256);
    return found;
  }

  #know(sha256: string) {
    if (this.#known.size >= knownMax) this.#known.delete(this.#known.values().next().value!);
    this.#known.add(sha256);
  }

  /** The whole blob; 404 when it was never stored. */
  async read(sha256: string): Promise<Uint8Array> {
    if (!(await this.has(sha256))) throw notFound(`No blob ${sha256.slice(0, 12)}…: upload it first with PUT /api/blobs.`);
    return this.readKnown(sha256);
  }

  /** A stored blob as a stream with its length; 404 when it was never stored. */
  async open(sha256: string): Promise<{ size: number; body: ReadableStream<Uint8Array> }> {
    if (!(await this.has(sha256))) throw notFound(`No blob ${sha256.slice(0, 12)}…`);
    const small = this.#recent.get(sha256) ?? (await this.#loadSmall(sha256));
    if (!small) return this.bytes.open(sha256);
    return { size: small.byteLength, body: new Blob([small as Uint8Array<ArrayBuffer>]).stream() };
  }

  /** Small blobs being read into #recent: fetches of one that come meanwhile wait for that read. */
  #loading = new Map<string, Promise<Uint8Array | undefined>>();

  /**
   * A stored blob's bytes if it is small (its row's, or its file's up to recentBlobMax), kept in
   * #recent. Nodes that start on one region of a job fetch its panels at about the same time,
   * before any result is checked against them: each fetch was a read of the row, or a stat, an
   * open, a read and a close of its file (2,430 fetches in one bench run of 48 nodes, 2,446 rows
   * read for about 200 panels until fetches that came together shared one read).
   */
  #loadSmall(sha256: string): Promise<Uint8Array | undefined> {
    let loading = this.#loading.get(sha256);
    if (!loading) {
      loading = (async () => {
        const row = await this.db.selectFrom('blobs').select(['data', 'size']).where('sha256', '=', sha256).executeTakeFirst();
        const small = row?.data ?? (row && row.size <= recentBlobMax ? await this.bytes.read(sha256) : undefined);
        if (small) this.#remember(sha256, small);
        return small;
      })().finally(() => this.#loading.delete(sha256));
      this.#loading.set(sha256, loading);
    }
    return loading;
  }

  /**
   * The bytes of a blob a row already references (so it exists). Inside a transaction pass it
   * as `via`: a small blob's bytes are read from its row, and on PGlite (one connection) a
   * query on `db` would wait for the transaction that waits for it.
   */
  async readKnown(sha256: string, via: Db | Trx = this.db): Promise<Uint8Array> {
    const cached = this.#recent.get(sha256);
    if (cached) {
      this.#recent.delete(sha256); // to the newest end
      this.#recent.set(sha256, cached);
      return cached;
    }
    const bytes = (await this.#fromRow(sha256, via)) ?? (await this.bytes.read(sha256));
    this.#remember(sha256, bytes);
    return bytes;
  }

  /** Many blobs' bytes, in order (a job's verified outputs, to assemble it): small ones in one query. */
  async readMany(sha256s: string[], via: Db | Trx = this.db): Promise<Uint8Array[]> {
    const wanted = [...new Set(sha256s.filter((sha) => !this.#recent.has(sha)))];
    const rows = new Map<string, Uint8Array>();
    for (let i = 0; i < wanted.length; i += 1000) {
      for (const r of await via.selectFrom('blobs').select(['sha256', 'data']).where('sha256', 'in', wanted.slice(i, i + 1000)).where('data', 'is not', null).execute()) rows.set(r.sha256, r.data!);
    }
    return Promise.all(sha256s.map((sha) => rows.get(sha) ?? this.readKnown(sha, via)));
  }

  async #fromRow(sha256: string, via: Db | Trx): Promise<Uint8Array | null> {
    return (await via.selectFrom('blobs').select('data').where('sha256', '=', sha256).executeTakeFirst())?.data ?? null;
  }

  /** A blob's bytes if they are in memory now (no read), else undefined. */
  peek(sha256: string): Uint8Array | undefined {
    return this.#recent.get(sha256);
  }

  #remember(sha256: string, bytes: Uint8Array) {
    if (bytes.byteLength > recentBlobMax || this.#recent.has(sha256)) return;
    this.#recent.set(sha256, bytes);
    this.#recentBytes += bytes.byteLength;
    for (const [oldest, old] of this.#recent) {
      if (this.#recentBytes <= recentBytesMax) break;
      this.#recent.delete(oldest);
      this.#recentBytes -= old.byteLength;
    }
  }

  /** Blobs read lately, newest last (a unit's input panels are read for every result checked
   * against them: each read was an open, a stat, a read and a close). Blobs never change; the
   * bytes handed out are shared, so callers read them and never write into them. */
  #recent = new Map<string, Uint8Array>();
  #recentBytes = 0;

  /**
   * Stores small blobs whose bytes are in hand and already hashed (outputs inside result
   * frames) in their rows (migration 0011), with one statement for them all.
   */
  /** Which of these are stored: one query for those not known already. */
  async hasMany(shas: string[]): Promise<Set<string>> {
    const valid = shas.filter((sha) => sha256Pattern.test(sha));
    const found = new Set(valid.filter((sha) => this.#known.has(sha)));
    const asked = valid.filter((sha) => !found.has(sha));
    if (asked.length) for (const { sha256 } of await this.db.selectFrom('blobs').select('sha256').where('sha256', 'in', asked).execute()) found.add(sha256);
    return found;
  }

  async putSmall(blobs: { sha256: string; bytes: Uint8Array; accountId: string | null }[]) {
    const fresh = [...new Map(blobs.filter((b) => !this.#known.has(b.sha256)).map((b) => [b.sha256, b])).values()];
    for (let i = 0; i < fresh.length; i += rowsPerInsert) {
      await this.db
        .insertInto('blobs')
        .values(fresh.slice(i, i + rowsPerInsert).map(({ sha256, bytes, accountId }) => ({ sha256, size: bytes.byteLength, account_id: accountId, data: bytes })))
        .onConflict((oc) => oc.column('sha256').doNothing())
        .execute();
    }
    for (const { sha256, bytes } of fresh) {
      this.#remember(sha256, bytes);
      this.#know(sha256);
    }
  }

  /**
   * Stores blobs whose bytes are in hand (the panels, scenes and inputs a job is cut into) and
   * returns their hashes in order: those up to rowBytesMax in their rows, a thousand to a
   * statement; larger ones in the backend, one by one, as `put`.
   */
  async putMany(list: Uint8Array[], accountId: string | null): Promise<{ sha256: string; size: number }[]> {
    const hashed = list.map((bytes) => ({ sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.byteLength, bytes }));
    await this.putSmall(hashed.filter((b) => b.size <= rowBytesMax).map(({ sha256, bytes }) => ({ sha256, bytes, accountId })));
    for (const b of hashed) if (b.size > rowBytesMax) await this.put(b.bytes, accountId);
    return hashed.map(({ sha256, size }) => ({ sha256, size }));
  }

  /**
   * Streams bytes in, hashing as they come. An upload (`limited`) stops with 413 as soon as
   * it passes `bytesMax`; blobs the coordinator makes itself (panels, results) are not
   * uploads. 400 when `expectedSha256` is given and the bytes do not match it.
   */
  async put(body: AsyncIterable<Uint8Array> | Uint8Array, accountId: string | null, upload?: { limited: true; expectedSha256?: string }) {
    if (!upload && body instanceof Uint8Array && body.byteLength <= rowBytesMax) return (await this.putMany([body], accountId))[0]!;
    const expectedSha256 = upload?.expectedSha256;
    const bytesMax = upload?.limited ? this.bytesMax : Infinity;
    const tmp = this.#tmp();
    const file = await open(tmp, 'w');
    const hash = createHash('sha256');
    let size = 0;
    try {
      const chunks = body instanceof Uint8Array ? [body] : body;
      for await (const chunk of chunks) {
        size += chunk.byteLength;
        if (size > bytesMax) throw tooLarge(`The upload is over the ${this.bytesMax}-byte limit (SUPERNET_BLOB_MAX_BYTES).`);
        hash.update(chunk);
        await file.write(chunk);
      }
      await file.sync();
    } catch (err) {
      await file.close();
      await rm(tmp, { force: true });
      throw err;
    }
    await file.close();
    const sha256 = hash.digest('hex');
    if (expectedSha256 && expectedSha256 !== sha256) {
      await rm(tmp, { force: true });
      throw badRequest(`The bytes hash to ${sha256}, not the ${expectedSha256} you sent: the upload was damaged.`, 'hash_mismatch');
    }
    try {
      await this.bytes.commit(sha256, tmp, size);
    } finally {
      await rm(tmp, { force: true });
    }
    await this.db
      .insertInto('blobs')
      .values({ sha256, size, account_id: accountId })
      .onConflict((oc) => oc.column('sha256').doNothing())
      .execute();
    return { sha256, size };
  }
}
