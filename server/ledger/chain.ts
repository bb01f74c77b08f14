import { createHash } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { Database } from '../db/schema.ts';

/**
 * The hash chain over transfers. Each transfer's hash is
 *   sha256(prev_hash ‖ "\n" ‖ canonical fields)
 * with the fields in a fixed order and timestamps as epoch milliseconds, so the chain can be
 * recomputed from the database or from an export without asking which driver wrote it.
 * Editing any field of any row changes its hash; deleting a row breaks `prev_hash` of the
 * next (or, for the last rows, disagrees with the latest signed checkpoint).
 */
export const genesisHash = '0'.repeat(64);

/** A transfer's fields, all of which its hash covers (the row less its own links). */
export type ChainFields = Omit<Selectable<Database['transfers']>, 'prev_hash' | 'hash'>;

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
