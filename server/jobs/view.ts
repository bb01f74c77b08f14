import { sql, type Selectable } from 'kysely';
import type { Config } from '../config.ts';
import type { Db } from '../db/index.ts';
import type { Database } from '../db/schema.ts';
import { showCredits, toCredits } from '../ledger/credit.ts';
import { escrowsOf, escrowView } from '../ledger/views.ts';
import { workloads } from '../../workloads/coordinator.ts';

type JobRow = Selectable<Database['jobs']>;

/**
 * Jobs as the API shows them, with their money: bid, estimate, escrow, paid, pending, refunded.
 * With `config` (one job's page and its events, not lists), a job still at work says how it goes:
 * nodes on it, pace, time left, or why nothing is being done and what to do about it.
 */
export async function jobViews(db: Db, jobs: JobRow[], config?: Pick<Config, 'leaseTtlMs'>) {
  const escrows = await escrowsOf(db, jobs.map((j) => j.id));
  const webhooks = await webhookViews(db, jobs.filter((j) => j.webhook_url).map((j) => j.id));
  const activities = new Map<string, Activity>();
  if (config) for (const job of jobs) if (job.state === 'queued' || job.state === 'running') activities.set(job.id, await activityOf(db, job, config.leaseTtlMs));
  return jobs.map((job) => {
    const escrow = escrows.get(job.id)!;
    const cost = escrowView(job, escrow.account, escrow.refunded);
    const executions = job.verification === 'check' ? 1 : job.replication;
    return {
      id: job.id,
      kind: job.kind,
      state: job.state,
      spec: job.spec,
      verification: job.verification,
      replication: job.replication,
      // A job with rounds counts the units of all its rounds, made or not yet.
      progress: { units: job.units_planned ?? job.units_total, verified: job.units_verified, ...(job.units_planned ? { round: job.round } : {}) },
      live: workloads[job.kind]?.live?.(job.plan as Record<string, unknown>) ?? null,
      bid: toCredits(job.bid),
      estimate: { flops: job.flops * executions, credits: toCredits(job.estimate) },
      /** `credits`: paid to contributors so far (verified work, replicas included). */
      cost: { credits: cost.paid, ...cost },
      error: job.error,
      result: job.state === 'done' ? `/api/jobs/${job.id}/result` : null,
      createdAt: job.created_at,
      finishedAt: job.finished_at,
      name: job.name,
      tags: job.tags,
      activity: activities.get(job.id) ?? null,
      /** `delivery`: null until the job ends, then how telling the URL went. */
      webhook: job.webhook_url ? { url: job.webhook_url, delivery: webhooks.get(job.id) ?? null } : null,
    };
  });
}

interface Activity {
  nodesWorking: number;
  unitsPerMinute: number;
  etaSeconds: number | null;
  waiting: string | null;
}

/** The pace is read over this window: long enough to span a few units, short enough to follow a change. */
const paceWindowMs = 120_000;

async function activityOf(db: Db, job: JobRow, leaseTtlMs: number): Promise<Activity> {
  const row = await db
    .selectFrom('attempts')
    .innerJoin('units', 'units.id', 'attempts.unit_id')
    .select([
      sql<number>`count(distinct attempts.node_id) filter (where attempts.state = 'leased' and attempts.deadline > now())::int`.as('working'),
      sql<number>`count(*) filter (where attempts.state = 'valid' and attempts.returned_at > ${new Date(Date.now() - paceWindowMs)})::int`.as('recent'),
    ])
    .where('units.job_id', '=', job.id)
    .executeTakeFirstOrThrow();
  const executions = job.verification === 'check' ? 1 : job.replication;
  const unitsPerMinute = Math.round((row.recent / executions / (paceWindowMs / 60_000)) * 10) / 10;
  const remaining = job.units_total - job.units_verified;
  const etaSeconds = unitsPerMinute > 0 && remaining > 0 ? Math.round((remaining / unitsPerMinute) * 60) : null;
  return { nodesWorking: row.working, unitsPerMinute, etaSeconds, waiting: row.working === 0 && remaining > 0 ? await whyWaiting(db, job, leaseTtlMs) : null };
}

const nodes = (n: number) => `${n} node${n === 1 ? '' : 's'}`;

/** Why no node works on the job: the first of these that holds, each with what to do. */
async function whyWaiting(db: Db, job: JobRow, leaseTtlMs: number): Promise<string> {
  const online = await db
    .selectFrom('nodes')
    .select(['caps', 'ask', 'paused_at', 'account_id', 'quarantined_at'])
    .where('disconnected_at', 'is', null)
    .where('last_seen_at', '>', new Date(Date.now() - 3 * leaseTtlMs))
    .execute();
  if (!online.length) return 'No node is online. Open the contribute page (/) in a browser tab and press Start, or run an agent: npx supernet agent --url URL --key KEY.';
  const runs = online.filter((n) => ((n.caps as { kinds?: string[] }).kinds ?? ['matmul']).includes(job.kind) && !n.quarantined_at);
  if (!runs.length) return `${nodes(online.length)} online, none of which runs ${job.kind} jobs${job.kind === 'wgsl' ? ' (they need WebGPU)' : ''}. Start an agent or a tab that does.`;
  const active = runs.filter((n) => !n.paused_at);
  const one = (n: number, single: string, plural: string) => (n === 1 ? single : plural);
  if (!active.length) return `The ${nodes(runs.length)} that ${one(runs.length, 'runs', 'run')} ${job.kind} jobs ${one(runs.length, 'is', 'are')} paused.`;
  const willing = active.filter((n) => n.ask <= job.bid);
  if (!willing.length) {
    const least = Math.min(...active.map((n) => n.ask));
    return `The ${nodes(active.length)} that ${one(active.length, 'runs', 'run')} ${job.kind} jobs ${one(active.length, 'asks', 'ask')} at least ${showCredits(least)} credits per GFLOP; this job bids ${showCredits(job.bid)}. Submit it again with a bid of at least ${showCredits(least)}.`;
  }
  const accounts = new Set(willing.map((n) => n.account_id ?? 'anonymous')).size;
  if (job.verification === 'replicate' && accounts < job.replication) return `Replication needs results from ${job.replication} different accounts; the nodes online that take this job belong to ${accounts}. It goes on when another account's node joins.`;
  return `${willing.length === 1 ? 'The node' : `All ${nodes(willing.length)}`} that ${one(willing.length, 'takes', 'take')} this job ${one(willing.length, 'is', 'are')} busy with other work (higher bids first); it starts as ${one(willing.length, 'it frees', 'they free')} up.`;
}

/** What the job's page and API say about its webhook. */
async function webhookViews(db: Db, jobIds: string[]) {
  const rows = jobIds.length ? await db.selectFrom('webhook_deliveries').selectAll().where('job_id', 'in', jobIds).execute() : [];
  return new Map(rows.map((r) => [r.job_id, { state: r.state, event: r.event, attempts: r.attempts, lastStatus: r.last_status, lastError: r.last_error, deliveredAt: r.delivered_at, nextAt: r.state === 'pending' ? r.next_at : null }]));
}
