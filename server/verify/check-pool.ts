import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { workloads } from '../../workloads/coordinator.ts';
import type { Workload } from '../../workloads/types.ts';

/**
 * Checks that cost real CPU (Workload.checkOffThread: train recomputes a shard's gradient, 10 ms
 * for the digits MLP and ~0.5 s for the CNN; render traces a sample of a tile's pixels) run on
 * a worker thread, so that the coordinator's event loop — every node's frames, leases,
 * heartbeats and the API — never waits on one. Freivalds' check of a matmul tile (tens of µs)
 * stays inline: a round trip to a thread would cost more than the check.
 *
 * A worker keeps the input blobs it was sent, by hash (blobs never change), up to
 * `keptBytesMax`: a train job's dataset (7.8 MB of digits) crosses to it once, not with every
 * shard. A check names its inputs by hash and sends only the bytes it knows the worker lacks;
 * a worker that dropped one since answers `need`, and the check is sent again with them.
 *
 * One worker per core but one, one at least, two at most; started on the first check. A
 * worker that dies fails the checks it had (the result is judged again when its node resends
 * it, or its lease lapses) and the next check starts another.
 */
const keptBytesMax = 256 * 1024 * 1024;

interface CheckRequest {
  id: number;
  kind: string;
  params: Record<string, unknown>;
  inputs: string[];
  given: Record<string, Uint8Array>;
  result: Uint8Array;
}
type CheckReply = { id: number; ok: boolean } | { id: number; need: string[] } | { id: number; error: string };

interface Thread {
  worker: Worker;
  /** Hashes sent to it that it has not said it dropped (it may have: then it asks). */
  sent: Set<string>;
  waiting: Map<number, { request: CheckRequest; bytes: (sha: string) => Uint8Array; resolve: (ok: boolean) => void; reject: (err: Error) => void }>;
}

export class CheckPool {
  #threads: Thread[] = [];
  #next = 0;
  #ids = 0;
  #closed = false;
  readonly size = Math.min(2, Math.max(1, availableParallelism() - 1));

  /**
   * The workload's check of `result` against the unit's inputs (hashes and their bytes, in
   * order): on a worker thread where the workload asks for it, else here.
   */
  async check(workload: Workload, params: Record<string, unknown>, inputs: { sha: string; bytes: Uint8Array }[], result: Uint8Array): Promise<boolean> {
    if (!workload.checkOffThread || this.#closed) return workload.check!(params, inputs.map((i) => i.bytes), result);
    const thread = this.#thread();
    const byHash = new Map(inputs.map((i) => [i.sha, i.bytes]));
    const request: CheckRequest = { id: ++this.#ids, kind: workload.kind, params, inputs: inputs.map((i) => i.sha), given: {}, result };
    for (const { sha, bytes } of inputs) if (!thread.sent.has(sha)) request.given[sha] = bytes;
    return new Promise<boolean>((resolve, reject) => {
      thread.waiting.set(request.id, { request, bytes: (sha) => byHash.get(sha)!, resolve, reject });
      this.#post(thread, request);
    });
  }

  async close() {
    this.#closed = true;
    await Promise.all(this.#threads.map((t) => t.worker.terminate()));
    this.#threads = [];
  }

  #post(thread: Thread, request: CheckRequest) {
    for (const sha of Object.keys(request.given)) thread.sent.add(sha);
    thread.worker.postMessage(request);
  }

  #thread(): Thread {
    if (this.#threads.length < this.size) this.#threads.push(this.#start());
    return this.#threads[this.#next++ % this.#threads.length]!;
  }

  #start(): Thread {
    const here = new URL(import.meta.url);
    // From source (.ts) the worker needs the loader this process was started with (bin/register.mjs).
    const execArgv = here.pathname.endsWith('.ts') ? ['--import', new URL('../../bin/register.mjs', here).href] : [];
    const worker = new Worker(here, { workerData: { supernetChecks: true }, execArgv });
    worker.unref();
    const thread: Thread = { worker, sent: new Set(), waiting: new Map() };
    worker.on('message', (reply: CheckReply) => {
      const job = thread.waiting.get(reply.id);
      if (!job) return;
      if ('need' in reply) {
        const given = Object.fromEntries(reply.need.map((sha) => [sha, job.bytes(sha)]));
        for (const sha of reply.need) thread.sent.delete(sha);
        return this.#post(thread, { ...job.request, given });
      }
      thread.waiting.delete(reply.id);
      if ('error' in reply) job.reject(new Error(reply.error));
      else job.resolve(reply.ok);
    });
    const fail = (err: Error) => {
      this.#threads = this.#threads.filter((t) => t !== thread);
      for (const job of thread.waiting.values()) job.reject(new Error(`the check's worker thread stopped: ${err.message}`));
      thread.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit ${code}`)));
    return thread;
  }
}

/** The worker's side: checks as they come, the inputs kept by hash. */
function serveChecks() {
  const kept = new Map<string, Uint8Array>();
  let keptBytes = 0;
  parentPort!.on('message', (request: CheckRequest) => {
    try {
      for (const [sha, bytes] of Object.entries(request.given)) {
        if (kept.has(sha)) continue;
        kept.set(sha, bytes);
        keptBytes += bytes.byteLength;
      }
      const need = request.inputs.filter((sha) => !kept.has(sha));
      if (need.length) return parentPort!.postMessage({ id: request.id, need } satisfies CheckReply);
      const inputs = request.inputs.map((sha) => {
        const bytes = kept.get(sha)!;
        kept.delete(sha); // to the newest end
        kept.set(sha, bytes);
        return bytes;
      });
      const ok = workloads[request.kind]!.check!(request.params, inputs, request.result);
      parentPort!.postMessage({ id: request.id, ok } satisfies CheckReply);
      // The oldest go first; the check's own inputs, just used, last.
      for (const [sha, bytes] of kept) {
        if (keptBytes <= keptBytesMax) break;
        kept.delete(sha);
        keptBytes -= bytes.byteLength;
      }
    } catch (err) {
      parentPort!.postMessage({ id: request.id, error: err instanceof Error ? err.message : String(err) } satisfies CheckReply);
    }
  });
}

if (!isMainThread && (workerData as { supernetChecks?: boolean } | null)?.supernetChecks) serveChecks();
