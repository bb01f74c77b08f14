import type { z } from 'zod';
import type { BlobStore } from '../blobs/store.ts';

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
  /** Work of one execution of the whole job. */
  flops: number;
}

/** A unit and its verified result, for `assemble`. */
export interface UnitResult {
  params: Record<string, unknown>;
  result: Uint8Array;
}

/**
 * A kind of job. Adding one touches `shaders/<kind>/`, this interface's implementation in
 * `server/workloads/<kind>.ts`, its tests and one line of `registry.ts`.
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
  /** Whether two results of one unit agree within the workload's tolerance. */
  agree(params: Record<string, unknown>, x: Uint8Array, y: Uint8Array): boolean;
  /** Builds the job's result from its verified units. */
  assemble(plan: Record<string, unknown>, units: UnitResult[]): { bytes: Uint8Array; contentType: string; extension: string };
}
