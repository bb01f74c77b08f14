import { disagreeingTrustedMin, quorum, replicasCap, replicasMax } from '../jobs/states.ts';

/** A returned result of one unit; `holder` is its account (or anonymous node). */
export interface Returned {
  id: string;
  holder: string;
  sha256: string;
  bytes: Uint8Array;
  /** A result of a node caught lying since: judged, but it neither votes nor counts as a replica. */
  suspect?: boolean;
  /** Its node is trusted (a streak of valid results, reputation.ts): its disagreement is evidence about the unit. */
  trusted?: boolean;
}

export type Decision =
  | { kind: 'verified'; accepted: Returned; valid: string[]; invalid: string[] }
  | { kind: 'wait' }
  | { kind: 'escalate'; replicas: number }
  | { kind: 'failed'; reason: string };

/**
 * Replication: a unit is verified when `quorum` results from different holders agree
 * within the workload's tolerance. When every wanted replica has returned and none has a
 * quorum, one more replica is asked for (the tie-break), up to `replicasMax`, and on to
 * `replicasCap` while fewer than `disagreeingTrustedMin` trusted nodes are among them
 * (server/jobs/states.ts).
 * (Cheap checks such as Freivalds' for matmul, and adaptive replication, build on this seam.)
 */
export function decide(returned: Returned[], replicas: number, agree: (x: Uint8Array, y: Uint8Array) => boolean): Decision {
  const voters = returned.filter((r) => !r.suspect);
  for (const candidate of voters) {
    const supporters = voters.filter((r) => r === candidate || (r.holder !== candidate.holder && agree(candidate.bytes, r.bytes)));
    if (new Set(supporters.map((r) => r.holder)).size >= quorum) {
      // Suspect results that agree with the verdict are vindicated; the rest are wrong.
      const valid = new Set([...supporters, ...returned.filter((r) => r.suspect && agree(candidate.bytes, r.bytes))].map((r) => r.id));
      return {
        kind: 'verified',
        accepted: candidate,
        valid: [...valid],
        invalid: returned.filter((r) => !valid.has(r.id)).map((r) => r.id),
      };
    }
  }
  if (voters.length < replicas) return { kind: 'wait' };
  // Disagreement is evidence about the unit only from nodes with a record: until enough trusted
  // ones disagree, liars (each lying its own way) could be all the unit has heard from.
  const trusted = new Set(voters.filter((r) => r.trusted).map((r) => r.holder)).size;
  if (replicas < replicasMax || (trusted < disagreeingTrustedMin && replicas < replicasCap)) return { kind: 'escalate', replicas: replicas + 1 };
  return { kind: 'failed', reason: `${returned.length} results from different nodes disagree (${trusted} of them from trusted nodes) and no ${quorum} of them agree` };
}
