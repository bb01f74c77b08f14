import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { Db } from '../db/index.ts';
import { checkpointMessage, genesisHash, transferHash, type ChainFields } from './chain.ts';
import { auditLedger } from './ledger.ts';

/**
 * Signed checkpoints of the transfer chain, and the check that recomputes it.
 *
 * The coordinator keeps an Ed25519 key in its data directory (`ledger-key.pem`, mode 0600,
 * made on first start). Every SUPERNET_CHECKPOINT_MS, when the chain has grown, it signs
 * (seq, hash, time) of the chain's tip and stores the checkpoint. A checkpoint's public key
 * is stored with it, but `verify-ledger` trusts only the keys it is given (by default the
 * data directory's own): someone who can write the database can sign with a key of their
 * own, not with ours. Publishing checkpoints elsewhere (a public blockchain, a transparency
 * log) is the seam to make even our own key unable to rewrite history unseen.
 */
export const keyFile = 'ledger-key.pem';

export function loadOrCreateKey(dataDir: string): KeyObject {
  const path = join(dataDir, keyFile);
  if (!existsSync(path)) {
    mkdirSync(dataDir, { recursive: true });
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    chmodSync(path, 0o600);
  }
  return createPrivateKey(readFileSync(path));
}

export const publicPem = (key: KeyObject) => createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();

/** Signs the chain's tip if it moved since the last checkpoint. Returns the seq signed, or null. */
export async function checkpoint(db: Db, key: KeyObject): Promise<number | null> {
  const head = await db.selectFrom('ledger_head').select(['seq', 'hash']).executeTakeFirstOrThrow();
  if (head.seq === 0) return null;
  const last = await db.selectFrom('ledger_checkpoints').select('seq').orderBy('seq', 'desc').limit(1).executeTakeFirst();
  if (last && last.seq >= head.seq) return null;
  const at = new Date();
  const signature = sign(null, Buffer.from(checkpointMessage(head.seq, head.hash, at)), key).toString('base64');
  await db.insertInto('ledger_checkpoints').values({ seq: head.seq, hash: head.hash, at, public_key: publicPem(key), signature }).onConflict((oc) => oc.column('seq').doNothing()).execute();
  return head.seq;
}

export interface CheckpointRow {
  seq: number;
  hash: string;
  at: Date;
  public_key: string;
  signature: string;
}
export type ChainRow = ChainFields & { prev_hash: string; hash: string };

export interface Verdict {
  ok: boolean;
  transfers: number;
  checkpoints: number;
  problems: string[];
}

const problemsMax = 20;

/**
 * Walks the chain in seq order: seqs 1, 2, 3… with no gap, each prev_hash the hash before
 * it, each hash recomputed from its fields; every checkpoint names a row that exists with
 * that hash and carries a valid signature by a trusted key; the latest checkpoint is not
 * past the end (rows cut off the end). An edited row breaks its own hash; a deleted row
 * breaks the seq run and the next prev_hash.
 */
export async function verifyChain(rows: AsyncIterable<ChainRow>, checkpoints: CheckpointRow[], trusted: string[]): Promise<Verdict> {
  const problems: string[] = [];
  const note = (p: string) => problems.length < problemsMax && problems.push(p);
  const bySeq = new Map(checkpoints.map((c) => [c.seq, c]));
  const trustedKeys = trusted.map((pem) => createPublicKey(pem));
  let prev = genesisHash;
  let expected = 1;
  let count = 0;
  const seen = new Map<number, string>();
  for await (const row of rows) {
    count++;
    if (row.seq !== expected) note(`transfer seq ${expected}${row.seq > expected + 1 ? `…${row.seq - 1}` : ''} is missing (deleted?): the chain jumps to ${row.seq}`);
    if (row.prev_hash !== prev) note(`transfer ${row.seq} (${row.id}) does not follow the one before it: prev_hash ${row.prev_hash.slice(0, 12)}… is not ${prev.slice(0, 12)}…`);
    const recomputed = transferHash(row.prev_hash, row);
    if (recomputed !== row.hash) note(`transfer ${row.seq} (${row.id}) was changed: its fields hash to ${recomputed.slice(0, 12)}…, not the recorded ${row.hash.slice(0, 12)}…`);
    if (bySeq.has(row.seq)) seen.set(row.seq, row.hash);
    prev = row.hash;
    expected = row.seq + 1;
  }
  for (const c of checkpoints) {
    const message = Buffer.from(checkpointMessage(c.seq, c.hash, c.at));
    const signed = trustedKeys.some((k) => verify(null, message, k, Buffer.from(c.signature, 'base64')));
    if (!signed) note(`checkpoint at seq ${c.seq} is not signed by a trusted key`);
    const hash = seen.get(c.seq);
    if (hash === undefined) note(`checkpoint at seq ${c.seq} names a transfer that is not there (rows deleted from the end?)`);
    else if (hash !== c.hash) note(`checkpoint at seq ${c.seq} signed hash ${c.hash.slice(0, 12)}… but the chain has ${hash.slice(0, 12)}… there (history rewritten)`);
  }
  return { ok: problems.length === 0, transfers: count, checkpoints: checkpoints.length, problems };
}

async function* chainFromDb(db: Db): AsyncIterable<ChainRow> {
  const batch = 5000;
  for (let after = 0; ; ) {
    const rows = await db.selectFrom('transfers').selectAll().where('seq', '>', after).orderBy('seq').limit(batch).execute();
    for (const r of rows) yield r;
    if (rows.length < batch) return;
    after = rows.at(-1)!.seq;
  }
}

/** verify-ledger from the database: the chain, the checkpoints, and the balance cache. */
export async function verifyLedgerDb(db: Db, trusted: string[]): Promise<Verdict> {
  const checkpoints = await db.selectFrom('ledger_checkpoints').selectAll().orderBy('seq').execute();
  const verdict = await verifyChain(chainFromDb(db), checkpoints, trusted);
  const audit = await auditLedger(db);
  for (const id of audit.mismatched.slice(0, problemsMax)) verdict.problems.push(`account ${id}: its cached balance disagrees with its transfers`);
  for (const id of audit.negative.slice(0, problemsMax)) verdict.problems.push(`account ${id} is below zero`);
  for (const id of audit.resolvedTwice) verdict.problems.push(`pending transfer ${id} was resolved twice`);
  verdict.ok = verdict.problems.length === 0;
  return verdict;
}

/** The export format: JSON lines, `{type: "transfer", …}` in seq order then `{type: "checkpoint", …}`. */
export async function exportLedger(db: Db, write: (line: string) => void): Promise<{ transfers: number; checkpoints: number }> {
  let transfers = 0;
  for await (const row of chainFromDb(db)) {
    write(JSON.stringify({ type: 'transfer', ...row }));
    transfers++;
  }
  const checkpoints = await db.selectFrom('ledger_checkpoints').selectAll().orderBy('seq').execute();
  for (const c of checkpoints) write(JSON.stringify({ type: 'checkpoint', ...c }));
  return { transfers, checkpoints: checkpoints.length };
}

/** verify-ledger from an exported file. */
export async function verifyLedgerFile(path: string, trusted: string[]): Promise<Verdict> {
  const checkpoints: CheckpointRow[] = [];
  const transfers: ChainRow[] = [];
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (!line.trim()) continue;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(line);
    } catch {
      return { ok: false, transfers: 0, checkpoints: 0, problems: [`line ${n} of ${path} is not JSON`] };
    }
    if (row.type === 'checkpoint') checkpoints.push({ ...(row as unknown as CheckpointRow), at: new Date(row.at as string) });
    else if (row.type === 'transfer')
      transfers.push({ ...(row as unknown as ChainRow), created_at: new Date(row.created_at as string), timeout_at: row.timeout_at ? new Date(row.timeout_at as string) : null });
  }
  async function* each() {
    yield* transfers;
  }
  return verifyChain(each(), checkpoints, trusted);
}
