import type { z } from 'zod';
import { operations, type Operation } from './openapi.ts';
import * as s from './schemas.ts';
import { encodeNpy, parseNpy } from '../../shaders/npy.ts';

/**
 * The typed client for the Supernet API: `import { Supernet } from 'supernet'`. Every method is
 * one operation of the OpenAPI table (server/api/openapi.ts) — its method and path come from
 * there, and each JSON reply is checked against the operation's schema, so the client, the
 * document and the server cannot drift apart unnoticed. Isomorphic: fetch and zod only, so the
 * portal, the CLI and outside programs (Node 20+, browsers) share it.
 */
export class SupernetError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Where the fault is, when the API says (a WGSL compiler's messages with line and column). */
    readonly details?: { line: number; column: number; message: string }[],
  ) {
    super(message);
    this.name = 'SupernetError';
  }
}

export interface SupernetOptions {
  /** The coordinator, e.g. http://localhost:8787 (in a page of the coordinator: its origin). */
  url?: string;
  /** An API key (`sn_…`); without one, a browser's session cookie signs the calls. */
  key?: string;
  fetch?: typeof fetch;
}

type Input<T extends z.ZodType> = z.input<T>;
type Output<T extends z.ZodType> = z.output<T>;
interface CallOptions {
  params?: Record<string, string>;
  query?: Record<string, unknown>;
  body?: unknown;
  signal?: AbortSignal;
}
const byId = new Map(operations.map((op) => [op.operationId, op]));

export class Supernet {
  readonly url: string;
  #key?: string;
  #fetch: typeof fetch;

  constructor(opts: SupernetOptions = {}) {
    this.url = (opts.url ?? (typeof location === 'undefined' ? 'http://localhost:8787' : location.origin)).replace(/\/$/, '');
    this.#key = opts.key;
    this.#fetch = opts.fetch ?? ((...args) => fetch(...args));
  }

  async #raw(operationId: string, opts: CallOptions = {}): Promise<{ res: Response; op: Operation }> {
    const op = byId.get(operationId);
    if (!op) throw new Error(`no operation ${operationId}`);
    let path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(opts.params?.[name] ?? ''));
    const query = Object.entries(opts.query ?? {}).filter(([, v]) => v !== undefined);
    if (query.length) path += `?${new URLSearchParams(query.map(([k, v]) => [k, String(v)]))}`;
    const binary = opts.body instanceof Uint8Array;
    const res = await this.#fetch(this.url + path, {
      method: op.method.toUpperCase(),
      headers: {
        ...(this.#key ? { authorization: `Bearer ${this.#key}` } : {}),
        ...(opts.body === undefined ? {} : { 'content-type': binary ? 'application/octet-stream' : 'application/json' }),
      },
      body: opts.body === undefined ? undefined : binary ? (opts.body as Uint8Array<ArrayBuffer>) : JSON.stringify(opts.body),
      credentials: 'same-origin',
      signal: opts.signal,
    });
    if (!res.ok) {
      const text = await res.text();
      let error: { code?: string; message?: string; details?: SupernetError['details'] } = {};
      try {
        error = JSON.parse(text).error ?? {};
      } catch {
        // not JSON: the status says it
      }
      throw new SupernetError(res.status, error.code ?? 'http', error.message ?? `HTTP ${res.status} from ${op.method.toUpperCase()} ${op.path}`, error.details);
    }
    return { res, op };
  }

  async #json<T extends z.ZodType>(operationId: string, schema: T, opts: CallOptions = {}): Promise<Output<T>> {
    const { res, op } = await this.#raw(operationId, opts);
    if (op.ok[1] !== schema) throw new Error(`${operationId}: the client and the OpenAPI table name different schemas`);
    const parsed = schema.safeParse(await res.json());
    if (!parsed.success) throw new SupernetError(res.status, 'unexpected_reply', `${op.method.toUpperCase()} ${op.path} replied in a shape this client does not know: ${parsed.error.issues[0]?.message}`);
    return parsed.data;
  }

  async #bytes(operationId: string, params: Record<string, string>): Promise<Uint8Array> {
    const { res } = await this.#raw(operationId, { params });
    return new Uint8Array(await res.arrayBuffer());
  }

  health = () => this.#json('health', s.health);
  live = () => this.#json('live', s.ok);
  ready = () => this.#json('ready', s.ready);
  openapi = () => this.#json('openapi', byId.get('openapi')!.ok[1] as z.ZodType<Record<string, unknown>>);
  /** In a browser: signs in by cookie (programs use an API key instead). */
  signup = (body: Input<typeof s.signupBody>) => this.#json('signup', s.accountCreated, { body });
  login = (body: Input<typeof s.loginBody>) => this.#json('login', s.accountCreated, { body });
  logout = () => this.#json('logout', s.ok);
  me = () => this.#json('me', s.me);
  createKey = (name: string) => this.#json('createKey', s.keyCreated, { body: { name } satisfies Input<typeof s.keyBody> });
  listKeys = () => this.#json('listKeys', s.keyList);
  revokeKey = (id: string) => this.#json('revokeKey', s.ok, { params: { id } });
  workloads = () => this.#json('workloads', s.workloadList);
  putBlob = (bytes: Uint8Array) => this.#json('putBlob', s.blobStored, { body: bytes });
  getBlob = (sha256: string) => this.#bytes('getBlob', { sha256 });
  submitJob = (body: Input<typeof s.submitBody>) => this.#json('submitJob', s.jobSubmitted, { body });
  estimateJob = (body: Input<typeof s.submitBody>) => this.#json('estimateJob', s.jobEstimate, { body });
  jobUnits = (id: string) => this.#json('jobUnits', s.jobUnits, { params: { id } });
  webhookSecret = () => this.#json('webhookSecret', s.webhookSecret);
  listJobs = (query: Input<typeof s.jobListQuery> = {}) => this.#json('listJobs', s.jobList, { query });
  getJob = (id: string) => this.#json('getJob', s.job, { params: { id } });
  topUpJob = (id: string, body: Input<typeof s.topUpBody>) => this.#json('topUpJob', s.job, { params: { id }, body });
  cancelJob = (id: string) => this.#json('cancelJob', s.job, { params: { id } });
  jobResult = (id: string) => this.#bytes('jobResult', { id });
  jobPreview = (id: string) => this.#bytes('jobPreview', { id });
  history = () => this.#json('history', s.historyList);
  usage = (query: Input<typeof s.usageQuery> = {}) => this.#json('usage', s.usage, { query });
  transfers = (query: Input<typeof s.transfersQuery> = {}) => this.#json('transfers', s.transferList, { query });
  transfer = (body: Input<typeof s.transferBody>) => this.#json('transfer', s.transferDone, { body });
  market = () => this.#json('market', s.market);
  stats = () => this.#json('stats', s.stats);
  nodeFigures = (id: string, query: Input<typeof s.nodeQuery> = {}) => this.#json('nodeFigures', s.nodeFigures, { params: { id }, query });
  createSite = (body: Input<typeof s.siteBody>) => this.#json('createSite', s.site, { body });
  listSites = () => this.#json('listSites', s.siteList);
  deleteSite = (id: string) => this.#json('deleteSite', s.ok, { params: { id } });
  widgetConfig = (key: string) => this.#json('widgetConfig', s.widgetConfig, { params: { key } });
  widgetSession = (body: Input<typeof s.widgetSessionBody>) => this.#json('widgetSession', s.widgetSession, { body });
  leaderboard = (query: Input<typeof s.leaderboardQuery> = {}) => this.#json('leaderboard', s.leaderboard, { query });

  /**
   * The job's view at each change, from its server-sent events, until it ends (the last one
   * yielded is done, failed or cancelled): `for await (const job of api.events(id)) …`. A
   * dropped stream is picked up again; `signal` stops it (the job goes on: see `run`).
   */
  async *events(id: string, opts: { signal?: AbortSignal } = {}): AsyncGenerator<s.Job, void> {
    for (;;) {
      let last: s.Job | null = null;
      try {
        const { res } = await this.#raw('jobEvents', { params: { id }, signal: opts.signal });
        const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
            if (!/^event: progress$/m.test(block) || !data) continue;
            last = s.job.parse(JSON.parse(data));
            yield last;
            if (!['queued', 'running'].includes(last.state)) return;
          }
        }
      } catch (err) {
        if (err instanceof SupernetError || opts.signal?.aborted) throw opts.signal?.aborted ? opts.signal.reason : err;
      }
      await new Promise((r) => setTimeout(r, 500)); // the stream dropped before the end: again
    }
  }

  /** Follows a job to its end and returns its last view; `onProgress` hears each change. */
  async waitForJob(id: string, opts: { onProgress?: (job: s.Job) => void; signal?: AbortSignal } = {}): Promise<s.Job> {
    let last: s.Job | undefined;
    for await (const job of this.events(id, opts)) {
      last = job;
      opts.onProgress?.(job);
    }
    return last!;
  }

  /**
   * Submits a job and follows it to its end. Aborting `signal` cancels the job — the unspent
   * escrow returns — and rejects with the signal's reason.
   */
  async run(body: Input<typeof s.submitBody>, opts: { onProgress?: (job: s.Job) => void; signal?: AbortSignal } = {}): Promise<s.Job> {
    opts.signal?.throwIfAborted();
    const job = await this.submitJob(body);
    try {
      return await this.waitForJob(job.id, opts);
    } catch (err) {
      if (opts.signal?.aborted) await this.cancelJob(job.id).catch(() => {}); // ended meanwhile: nothing to cancel
      throw err;
    }
  }

  /** A done job's result as a stream of bytes, for results too big to hold (a render, a video). */
  async resultStream(id: string, opts: { signal?: AbortSignal } = {}): Promise<ReadableStream<Uint8Array>> {
    const { res } = await this.#raw('jobResult', { params: { id }, signal: opts.signal });
    return res.body!;
  }

  /**
   * C = A·B on the network, from typed arrays: A is m×k and B k×n, row-major float32; returns
   * C, m×n. Uploads both as .npy, runs a matmul job (verified; aborting `signal` cancels it)
   * and reads the result back. A job that fails throws a SupernetError with its reason.
   */
  async matmul(
    a: Float32Array,
    b: Float32Array,
    shape: { m: number; k: number; n: number },
    opts: { tile?: number; precision?: 'f32' | 'f16'; bid?: number; verification?: 'check' | 'replicate'; name?: string; onProgress?: (job: s.Job) => void; signal?: AbortSignal } = {},
  ): Promise<Float32Array> {
    const { m, k, n } = shape;
    if (a.length !== m * k) throw new RangeError(`A holds ${a.length} values; an ${m}×${k} matrix has ${m * k}.`);
    if (b.length !== k * n) throw new RangeError(`B holds ${b.length} values; a ${k}×${n} matrix has ${k * n}.`);
    const [ha, hb] = await Promise.all([this.putBlob(encodeNpy({ rows: m, cols: k, data: a })), this.putBlob(encodeNpy({ rows: k, cols: n, data: b }))]);
    const { tile, precision, bid, verification, name } = opts;
    const job = await this.run({ kind: 'matmul', spec: { a: ha.sha256, b: hb.sha256, ...(tile ? { tile } : {}), ...(precision ? { precision } : {}) }, bid, verification, name }, opts);
    if (job.state !== 'done') throw new SupernetError(409, `job_${job.state}`, `The matmul job ${job.id} ${job.state === 'failed' ? `failed: ${job.error}` : 'was cancelled'}.`);
    return parseNpy(await this.jobResult(job.id)).data;
  }
}

export type { Job, JobSubmitted, Market, Me, Stats } from './schemas.ts';
