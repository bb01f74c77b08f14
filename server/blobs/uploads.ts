import { sql } from 'kysely';
import type { Principal } from '../context.ts';
import type { Db, Trx } from '../db/index.ts';

/**
 * Who stored which bytes, and when. A node's result counts only as bytes that its holder
 * uploaded after the lease was granted (server/nodes/results.ts): reporting the hash of bytes
 * another node made — a copier's whole trick — is refused. Holders are those of leases
 * (server/nodes/leases.ts): the account, or `anon:<node>` for a node without one.
 */
export function uploaderOf(principal: Principal): string {
  if (principal.kind === 'node') return principal.accountId ?? `anon:${principal.nodeId}`;
  return principal.accountId;
}

export async function recordUpload(db: Db, sha256: string, uploader: string) {
  await recordUploads(db, [{ sha256, uploader }]);
}

export async function recordUploads(db: Db, uploads: { sha256: string; uploader: string }[]) {
  const unique = [...new Map(uploads.map((u) => [`${u.sha256}:${u.uploader}`, u])).values()];
  if (!unique.length) return;
  await sql`insert into uploads (sha256, uploader) values ${sql.join(unique.map((u) => sql`(${u.sha256}, ${u.uploader})`))}
    on conflict (sha256, uploader) do update set at = now()`.execute(db);
}

/** Whether `uploader` stored `sha256` at or after `since`. */
export async function uploadedSince(trx: Trx, sha256: string, uploader: string, since: Date): Promise<boolean> {
  const row = await trx.selectFrom('uploads').select('at').where('sha256', '=', sha256).where('uploader', '=', uploader).where('at', '>=', since).executeTakeFirst();
  return !!row;
}
