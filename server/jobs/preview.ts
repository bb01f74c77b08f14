import type { Deps } from '../context.ts';
import type { Workload, UnitResult } from '../../workloads/types.ts';

/**
 * Job pages ask for a running job's preview every second or so. Each ask reads the job's
 * verified units' rows (params only) and the result blobs of those not seen before: the
 * results already read stay here, so a 512×512 render of 256 units reads each 49 KB tile
 * once, not once a second. Kept for the last `jobsKept` jobs asked about.
 */
const jobsKept = 8;

interface Seen {
  results: Map<number, UnitResult>;
  /** The picture for this many verified units. */
  picture?: { count: number; png: Uint8Array };
}

export class Previews {
  #jobs = new Map<string, Seen>();

  constructor(private deps: Pick<Deps, 'db' | 'blobs'>) {}

  async draw(job: { id: string; plan: unknown }, workload: Workload & { preview: NonNullable<Workload['preview']> }): Promise<Uint8Array> {
    let seen = this.#jobs.get(job.id);
    if (seen) this.#jobs.delete(job.id); // re-inserted below: the Map's order is the LRU's
    seen ??= { results: new Map() };
    this.#jobs.set(job.id, seen);
    if (this.#jobs.size > jobsKept) this.#jobs.delete(this.#jobs.keys().next().value!);

    const rows = await this.deps.db.selectFrom('units').select(['idx', 'params', 'result_sha256']).where('job_id', '=', job.id).where('state', '=', 'verified').execute();
    // A unit re-checked and reopened since it was read leaves the picture until it is verified again.
    const verified = new Set(rows.map((r) => r.idx));
    for (const idx of seen.results.keys()) if (!verified.has(idx)) seen.results.delete(idx);
    const fresh = rows.filter((r) => !seen.results.has(r.idx));
    const bytes = await this.deps.blobs.readMany(fresh.map((r) => r.result_sha256!));
    fresh.forEach((r, k) => seen.results.set(r.idx, { params: r.params as Record<string, unknown>, result: bytes[k]! }));
    if (seen.picture?.count !== rows.length || fresh.length) seen.picture = { count: rows.length, png: workload.preview(job.plan as Record<string, unknown>, [...seen.results.values()]) };
    return seen.picture.png;
  }
}
