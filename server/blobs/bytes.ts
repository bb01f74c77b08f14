import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { S3Config } from '../config.ts';

/**
 * Where blobs' bytes live. `BlobStore` hashes, limits, caches and keeps the `blobs` rows; a
 * backend only keeps bytes under their sha-256, and keeps them before `BlobStore` writes the row
 * that says they exist. Blobs are immutable, so a second write of one hash is harmless.
 */
export interface BlobBytes {
  /** Where it keeps them, for logs and the README's "which store am I on". */
  readonly where: string;
  /** Makes the finished, fsynced file `tmpFile` (of `size` bytes) the blob `sha256`; the file is gone afterwards. */
  commit(sha256: string, tmpFile: string, size: number): Promise<void>;
  read(sha256: string): Promise<Uint8Array>;
  /** The bytes as a stream, with their length (for downloads of results up to gigabytes). */
  open(sha256: string): Promise<{ size: number; body: ReadableStream<Uint8Array> }>;
}

/** The embedded default: `<data>/blobs/ab/abcdef…`, written to a temporary name, fsynced, renamed. */
export class DiskBytes implements BlobBytes {
  constructor(readonly dir: string) {}

  get where() {
    return this.dir;
  }

  path(sha256: string): string {
    return join(this.dir, sha256.slice(0, 2), sha256);
  }

  async commit(sha256: string, tmpFile: string) {
    await mkdir(join(this.dir, sha256.slice(0, 2)), { recursive: true });
    await rename(tmpFile, this.path(sha256));
  }

  read(sha256: string): Promise<Uint8Array> {
    return readFile(this.path(sha256));
  }

  async open(sha256: string) {
    const path = this.path(sha256);
    const { size } = await stat(path);
    return { size, body: Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array> };
  }
}

/**
 * An S3-compatible bucket (AWS S3, MinIO, R2, s3rver in the tests), so that coordinators on
 * different machines serve each other's blobs. Keys are `<prefix><sha256>`. Uploads are spooled
 * to the coordinator's own disk while they are hashed and limited (the hash is the key, and it
 * is known only at the end), then put in one request: S3 takes up to 5 GiB that way and the
 * largest blob is `SUPERNET_BLOB_MAX_BYTES` (256 MiB by default).
 */
export class S3Bytes implements BlobBytes {
  readonly #client: Promise<import('@aws-sdk/client-s3').S3Client>;
  readonly #sdk = import('@aws-sdk/client-s3');

  constructor(private readonly s3: S3Config) {
    // The SDK warns on every start that its releases after January 2027 need Node 22; the
    // project runs on Node 20 with this release, so the warning says nothing to an operator.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.#client = this.#sdk.then(
      ({ S3Client }) =>
        new S3Client({
          region: s3.region,
          ...(s3.endpoint ? { endpoint: s3.endpoint, forcePathStyle: true } : {}),
          ...(s3.credentials ? { credentials: s3.credentials } : {}),
          // Checksums only where S3 requires them: the default (a CRC trailer in aws-chunked
          // bodies) is not understood by every S3-compatible server, and every blob is
          // addressed by its sha-256, which the store checks itself.
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
        }),
    );
  }

  get where() {
    return `s3://${this.s3.bucket}/${this.s3.prefix}${this.s3.endpoint ? ` at ${this.s3.endpoint}` : ''}`;
  }

  #key(sha256: string) {
    return `${this.s3.prefix}${sha256}`;
  }

  async commit(sha256: string, tmpFile: string, size: number) {
    const { PutObjectCommand } = await this.#sdk;
    await (await this.#client).send(new PutObjectCommand({ Bucket: this.s3.bucket, Key: this.#key(sha256), Body: createReadStream(tmpFile), ContentLength: size }));
    await rm(tmpFile, { force: true });
  }

  async read(sha256: string): Promise<Uint8Array> {
    const { body } = await this.open(sha256);
    return new Uint8Array(await new Response(body).arrayBuffer());
  }

  async open(sha256: string) {
    const { GetObjectCommand } = await this.#sdk;
    const got = await (await this.#client).send(new GetObjectCommand({ Bucket: this.s3.bucket, Key: this.#key(sha256) }));
    if (!got.Body) throw new Error(`S3 returned no body for ${this.#key(sha256)}`);
    return { size: Number(got.ContentLength), body: got.Body.transformToWebStream() as ReadableStream<Uint8Array> };
  }

  /** Checks the bucket answers, so a wrong name or key fails the start with a clear reason, not the first upload. */
  async check() {
    const { HeadBucketCommand } = await this.#sdk;
    try {
      await (await this.#client).send(new HeadBucketCommand({ Bucket: this.s3.bucket }));
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number }; message?: string };
      throw new Error(
        `The blob store ${this.where} cannot be reached (${e.$metadata?.httpStatusCode ?? ''} ${e.name ?? ''}: ${e.message ?? ''}). ` +
          'Check SUPERNET_S3_BUCKET, SUPERNET_S3_ENDPOINT and the AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY it is given; the bucket must exist.',
      );
    }
  }
}
