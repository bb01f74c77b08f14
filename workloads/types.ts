import type { z } from 'zod';
import type { BlobStore } from '../server/blobs/store.ts';
import type { GpuContext } from './node.ts';

/** One unit as `shard` proposes it; the coordinator adds ids, state and leases. */
export interface UnitDraft {
  params: Record<string, unknown>;
  /** Blob sha256s the node fetches before it runs the unit. */
  inputs: string[];
  flops: number;
}

export interface Sharded {
  /** Private to the workload: what `assemble` needs (shapes, tiling). */
  plan: Record<string, unknown>;
  units: UnitDraft[];
  /** Work of one execution of the whole job (every round of a job with rounds). */
  flops: number;
  /** A job with rounds: how many units its later rounds will make, as far as shard can tell
   * (train: rounds × shards), so that the estimate, the escrow and a unit's mean pay count them. */
  laterUnits?: { count: number; flops: number };
}

/** A unit and its verified result, for `assemble`. */
export interface UnitResult {
  params: Record<string, unknown>;
  result: Uint8Array;
}

/**
 * A kind of job, as the coordinator sees it. A workload is one folder, `workloads/<kind>/`,
 * holding this half (`coordinator.ts`), the node's (`node.ts`: a NodeKernel), its WGSL and its
 * tests; adding one touches that folder and one line of each registry (./coordinator.ts,
 * ./node.ts).
 */
export interface Workload<Spec = unknown> {
  kind: string;
  description: string;
  specSchema: z.ZodType<Spec>;
  /** Small, self-contained specs that run as they are. */
  examples: Spec[];
  /** Checks inputs (400s that say the fix), stores the blobs units need, returns the units. */
  shard(spec: Spec, blobs: BlobStore, accountId: string): Promise<Sharded>;
  /** Why a returned result cannot be right for this unit (wrong shape, not a tensor), or null. */
  malformed(params: Record<string, unknown>, result: Uint8Array): string | null;
  /**
   * A cheap independent check of one result against the unit's inputs (Freivalds' for
   * matmul), where the workload has one: a unit checked this way needs one execution.
   */
  check?(params: Record<string, unknown>, inputs: Uint8Array[], result: Uint8Array): boolean;
  /** The check costs milliseconds or more: it runs on a worker thread, off the coordinator's event loop (server/verify/check-pool.ts). */
  checkOffThread?: boolean;
  /**
   * A check that costs as much as the work (train recomputes a shard's gradient) is not run on
   * every result: a trusted node's results are checked on a sample (at least `rateMin` of them),
   * and before a round is decided `screen` names the results of the round that look wrong
   * (their indices in the round), to be checked too (server/verify/sampled.ts).
   */
  sampled?: { rateMin: number; screen(plan: Record<string, unknown>, round: UnitResult[]): number[] };
  /** Whether two results of one unit agree within the workload's tolerance. */
  agree(params: Record<string, unknown>, x: Uint8Array, y: Uint8Array): boolean;
  /**
   * How the job page lays the units out: `layers` (default 1) of rows × cols, units in that
   * order (render: a layer per batch of samples, a cell per tile); a strip without it.
   */
  grid?(plan: Record<string, unknown>): { rows: number; cols: number; layers?: number };
  /** The job so far, from the units verified yet (render: the picture at the samples it has), for the job page: a PNG. */
  preview?(plan: Record<string, unknown>, units: UnitResult[]): Uint8Array;
  /**
   * A job with rounds (train): units of round r + 1 exist only once round r is decided. Called
   * with the verified units of the round just decided (in order); returns the plan from now on
   * and either the next round's units or, when the job is done, its result. It may store blobs
   * (the next weights). Throwing fails the job with its message.
   */
  advance?(plan: Record<string, unknown>, round: UnitResult[], blobs: BlobStore, accountId: string): Promise<{ plan: Record<string, unknown>; units: UnitDraft[] } | { plan: Record<string, unknown>; result: Out }>;
  /** A job with rounds: how long a round waits for its last units before it goes on without them (server/jobs/finish.ts dropStragglers). */
  roundDeadlineMs?(plan: Record<string, unknown>): number;
  /** What the job page shows of a job at work or done, beyond its units (train: the round and the loss and accuracy curve); small JSON. */
  live?(plan: Record<string, unknown>): Record<string, unknown>;
  /** Builds the result of a job without rounds from its verified units: its bytes, content type and file extension (no dot). */
  assemble?(plan: Record<string, unknown>, units: UnitResult[]): Out;
}

/** A job's result, as assemble builds it. */
export interface Out {
  bytes: Uint8Array;
  contentType: string;
  extension: string;
}

/** A kind of unit as a node runs it: no DOM and no Node APIs (a browser worker, Dawn, tests). */
export interface NodeKernel {
  kind: string;
  /** Runs one unit on the GPU: input blobs in, the output blob's bytes out. */
  run(gpu: GpuContext, inputs: Uint8Array[], params: Record<string, unknown>): Promise<Uint8Array>;
  /** Only on WebGPU (a developer's WGSL has no JavaScript twin): nodes without it do not offer this kind. */
  gpuOnly?: true;
  /** The same unit in JavaScript: a node without WebGPU runs this (far slower). */
  cpu(inputs: Uint8Array[], params: Record<string, unknown>): Uint8Array;
  /** What running the unit does, for the person whose GPU does it ("a 64×64 tile of a picture…"). */
  describe(params: Record<string, unknown>): string;
}

/** What a portal half may ask of the page. */
export interface PortalHost {
  /** Stores bytes as a blob of the signed-in account; its sha256. */
  putBlob(bytes: Uint8Array): Promise<{ sha256: string }>;
  /** Escapes text for HTML. */
  esc(text: unknown): string;
}

/** The inputs part of the new-job form, as one workload draws it. */
export interface InputsForm {
  /** The spec the inputs make now, or why there is none yet (said to the user as it is). */
  spec(): { spec: Record<string, unknown> } | { why: string };
  /** What the coordinator said of the last spec: refused (its message, and where when it says: a compiler's lines), or null once one is accepted. */
  refused?(error: { message: string; details?: { line: number; column: number; message: string }[] } | null): void;
}

/** A job as its page follows it: each unit's state in the order of the workload's grid. */
export interface JobProgress {
  id: string;
  state: string;
  spec: Record<string, unknown>;
  grid: { rows: number; cols: number; layers: number };
  units: ('pending' | 'running' | 'verified' | 'failed' | 'cancelled')[];
  verified: number;
  /** What the workload's `live` says of the job, if it says anything. */
  live: Record<string, unknown> | null;
}

/** A kind of job in the developer portal (DOM code: pages only). */
export interface PortalWorkload {
  kind: string;
  /** Draws the inputs of a new job into `host`; calls `changed` whenever the spec may have changed. */
  inputs(host: HTMLElement, page: PortalHost, changed: () => void): InputsForm;
  /** What the result file is, for the download link. */
  result: { extension: string; description: string };
  /** Shows the job while it runs, in `host` (render: the picture filling in tile by tile); called at every change. */
  progress?(host: HTMLElement, job: JobProgress, page: PortalHost): void;
  /** Shows a done job's result in `host`. */
  show(host: HTMLElement, bytes: Uint8Array, page: PortalHost): void;
}

/** What a CLI half may ask of the command. */
export interface CliHost {
  /** A file's bytes; a usage error naming `what` when it cannot be read. */
  readFile(path: string, what: string): Uint8Array;
  /** Stores bytes as a blob of the caller's account; its sha256. */
  putBlob(bytes: Uint8Array): Promise<{ sha256: string }>;
  /** A usage error (exit code 2) saying `message`. */
  usage(message: string): Error;
}

/** A kind of job in `supernet submit KIND`: its own options, and the spec they make. */
export interface CliWorkload {
  kind: string;
  /** node:util parseArgs options (strings or booleans; `multiple`: given again and again, a list), with a line of help. */
  options: Record<string, { type: 'string' | 'boolean'; multiple?: true; help: string }>;
  /** The spec from the options given, merged over --spec's; reads and uploads files as it needs. */
  spec(values: Record<string, string | boolean | string[] | undefined>, given: Record<string, unknown>, host: CliHost): Promise<Record<string, unknown>>;
}
