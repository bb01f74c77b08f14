import { createHash } from 'node:crypto';

/**
 * The hash chain over transfers. Each transfer's hash is
 *   sha256(prev_hash ‖ "\n" ‖ canonical fields)
 * with the fields in a fixed order and timestamps as epoch milliseconds, so the chain can be
 * recomputed from the database or from an export without asking which driver wrote it.
 * Editing any field of any row changes its hash; deleting a row breaks `prev_hash` of the
 * next (or, for the last rows, disagrees with the latest signed checkpoint).
 */
export const genesisHash = '0'.repeat(64);

export interface ChainFields {
  seq: number;
  id: string;
  debit_account_id: string;
  credit_account_id: string;
  amount: number;
  kind: string;
  pending_id: string | null;
  code: string;
  job_id: string | null;
  attempt_id: string | null;
  timeout_at: Date | null;
  memo: string | null;
  created_at: Date;
}

export function transferHash(prevHash: string, t: ChainFields): string {
  const fields = [
    t.seq,
    t.id,
    t.debit_account_id,
    t.credit_account_id,
    t.amount,
    t.kind,
    t.pending_id ?? '',
    t.code,
    t.job_id ?? '',
    t.attempt_id ?? '',
    t.timeout_at ? t.timeout_at.getTime() : '',
    t.memo ?? '',
    t.created_at.getTime(),
  ];
  return createHash('sha256').update(`${prevHash}\n${JSON.stringify(fields)}`).digest('hex');
}

/** What a checkpoint signs: the chain's tip at `seq`, and when. */
export const checkpointMessage = (seq: number, hash: string, at: Date) => `supernet-ledger-checkpoint:${seq}:${hash}:${at.getTime()}`;
