import { createHmac, randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { sql } from 'kysely';
import type { Deps } from '../context.ts';
import type { Db, Trx } from '../db/index.ts';
import { jobViews } from './view.ts';

/**
 * A job's webhook: when the job ends (done, failed, cancelled) the coordinator POSTs its view to
 * the URL it was submitted with, signed the Standard Webhooks way (what Replicate and Svix do,
 * so their verifiers work): headers `webhook-id` (the delivery, the same on every retry),
 * `webhook-timestamp` (unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of
 * "id.timestamp.body" under the account's secret>`; the secret is `whsec_` and 24 random bytes
 * in base64 (GET /api/webhooks/secret).
 *
 * The delivery row is written in the transaction that ends the job (migration 0016 has its
 * states), so an ended job is always told, after a crash too. Any 2xx delivers; anything else
 * (an error status, a refused connection, 10 s without an answer) is tried again after
 * retryMs × 6ⁿ — 10 s, 1 min, 6 min, 36 min, 3.6 h by default — and the sixth failure is final.
 * Redirects are not followed. Loopback, private and link-local addresses are refused unless
 * SUPERNET_WEBHOOKS_TO_PRIVATE=1: a job must not make the coordinator call into its own network.
 */
export const webhookTries = 6;
const timeoutMs = 10_000;
const batch = 16;

/** Writes the delivery for a job that just ended, when it has a webhook. In the ending transaction. */
export async function queueWebhook(trx: Trx, jobId: string) {
  const job = await trx.selectFrom('jobs').select(['state', 'webhook_url']).where('id', '=', jobId).executeTakeFirst();
  if (!job?.webhook_url) return;
  await trx.insertInto('webhook_deliveries').values({ job_id: jobId, event: `job.${job.state}`, url: job.webhook_url }).onConflict((oc) => oc.column('job_id').doNothing()).execute();
}

/** The account's signing secret, made on first ask. */
export async function webhookSecret(db: Db, accountId: string): Promise<string> {
  const fresh = `whsec_${randomBytes(24).toString('base64')}`;
  await db.updateTable('accounts').set({ webhook_secret: fresh }).where('id', '=', accountId).where('webhook_secret', 'is', null).execute();
  const row = await db.selectFrom('accounts').select('webhook_secret').where('id', '=', accountId).executeTakeFirstOrThrow();
  return row.webhook_secret!;
}

/** The Standard Webhooks signature of one delivery. */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

const privateRanges = new BlockList();
for (const [net, bits] of [['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.168.0.0', 16], ['224.0.0.0', 4], ['240.0.0.0', 4]] as const) privateRanges.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [['::', 127], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8]] as const) privateRanges.addSubnet(net, bits, 'ipv6');

/** Why a URL may not be called (a private address), or null. */
async function refusedAddress(url: URL): Promise<string | null> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const addresses = isIP(host) ? [{ address: host, family: isIP(host) }] : await lookup(host, { all: true });
  const mapped = (a: string) => a.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
  const bad = addresses.find((a) => privateRanges.check(mapped(a.address), isIP(mapped(a.address)) === 6 ? 'ipv6' : 'ipv4'));
  return bad ? `${url.hostname} is ${bad.address}, a loopback or private address; a coordinator on your own network may allow it with SUPERNET_WEBHOOKS_TO_PRIVATE=1` : null;
}

/** Sends the deliveries that are due: one round of the sweeper's. Returns how many it tried. */
export async function deliverWebhooks(deps: Deps): Promise<number> {
  const { db, config } = deps;
  // Claimed for the length of a try and some: a coordinator that took the chore's turn while
  // this one still sends (a slow endpoint) finds them not due, and one that dies mid-send
  // leaves them due again in 30 s. At least once, then; the webhook-id lets receivers dedupe.
  const claimed = await sql<{ id: string; job_id: string; event: string; url: string; attempts: number; created_at: Date }>`
    update webhook_deliveries set next_at = now() + interval '30 seconds'
    where id in (select id from webhook_deliveries where state = 'pending' and next_at <= now()
                 order by next_at limit ${batch} for update skip locked)
    returning id, job_id, event, url, attempts, created_at`.execute(db);
  const due = claimed.rows;
  await Promise.all(
    due.map(async (d) => {
      const job = await db.selectFrom('jobs').selectAll().where('id', '=', d.job_id).executeTakeFirstOrThrow();
      const accountId = job.account_id;
      const [view] = await jobViews(db, [job]);
      const body = JSON.stringify({ type: d.event, createdAt: d.created_at, data: view });
      const timestamp = Math.floor(Date.now() / 1000);
      let status: number | null = null;
      let error: string | null = null;
      let final = false;
      try {
        const url = new URL(d.url);
        const refused = config.webhooksToPrivate ? null : await refusedAddress(url);
        if (refused) {
          error = `refused: ${refused}`;
          final = true;
        } else {
          const res = await fetch(url, {
            method: 'POST',
            redirect: 'manual',
            signal: AbortSignal.timeout(timeoutMs),
            headers: { 'content-type': 'application/json', 'user-agent': 'Supernet-Webhooks/1', 'webhook-id': d.id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signWebhook(await webhookSecret(db, accountId), d.id, timestamp, body) },
            body,
          });
          status = res.status;
          await res.body?.cancel();
          if (!res.ok) error = `HTTP ${res.status}${res.status >= 300 && res.status < 400 ? ' (redirects are not followed)' : ''}`;
        }
      } catch (err) {
        const e = err as Error & { cause?: { code?: string } };
        error = e.name === 'TimeoutError' ? `no answer in ${timeoutMs / 1000} s` : (e.cause?.code ?? e.message);
      }
      const attempts = d.attempts + 1;
      const delivered = error === null;
      const failed = !delivered && (final || attempts >= webhookTries);
      await db
        .updateTable('webhook_deliveries')
        .set({
          attempts,
          last_status: status,
          last_error: error,
          state: delivered ? 'delivered' : failed ? 'failed' : 'pending',
          delivered_at: delivered ? new Date() : null,
          next_at: new Date(Date.now() + config.webhookRetryMs * 6 ** (attempts - 1)),
        })
        .where('id', '=', d.id)
        .execute();
    }),
  );
  return due.length;
}
