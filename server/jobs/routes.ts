import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import type { AppEnv, Ctx, Deps } from '../context.ts';
import { requireAccount, requireOwner } from '../context.ts';
import { inTransaction } from '../db/index.ts';
import { badRequest, conflict, notFound } from '../errors.ts';
import { jobListQuery, jobState, submitBody, topUpBody } from '../api/schemas.ts';
import { describeIssues, parseBody } from '../validate.ts';
import { workloads } from '../../workloads/coordinator.ts';
import type { Sharded } from '../../workloads/types.ts';
import { cancelJob, failJob, insertUnits, roundDeadline, unitsPerWrite, writeUnits, writingLeaseMs } from './finish.ts';
import { jobViews } from './view.ts';
import { webhookSecret } from './webhooks.ts';
import { Previews } from './preview.ts';
import { showCredits, toCredits, toMicro } from '../ledger/credit.ts';
import { escrowJob, estimateEscrow, topUpEscrow } from '../ledger/payments.ts';
import { currentPrice } from '../market/price.ts';
import { walletOf } from '../ledger/views.ts';
import { sql } from 'kysely';

/** Escrow over the estimate for `replicate` jobs: escalations after a disagreement and spot
 * checks run extra replicas. `check` needs none: an invalid result's pay is voided. */
const replicateHeadroom = 0.25;
const eventPollMs = 500;

/** A job with rounds: its later units' work, each at their mean (for the estimate). */
const laterUnitFlops = (s: Sharded) => (s.laterUnits ? new Array<number>(s.laterUnits.count).fill(s.laterUnits.flops / Math.max(1, s.laterUnits.count)) : []);

export function jobRoutes(deps: Deps) {
  const app = new Hono<AppEnv>();
  const { db } = deps;
  const previews = new Previews(deps);

  async function ownJob(c: Ctx) {
    const id = z.uuid().safeParse(c.req.param('id'));
    const job = id.success ? await db.selectFrom('jobs').selectAll().where('id', '=', id.data).executeTakeFirst() : undefined;
    if (!job) throw notFound('No such job.');
    requireOwner(c, job.account_id, 'job');
    return job;
  }

  app.get('/workloads', (c) =>
    c.json({
      workloads: Object.values(workloads).map((w) => ({
        kind: w.kind,
        description: w.description,
        specSchema: z.toJSONSchema(w.specSchema),
        examples: w.examples,
      })),
    }),
  );

  /** Validates a submission and works out its units and money, creating nothing (but input panels). */
  async function planJob(c: Ctx, accountId: string) {
    const body = await parseBody(c, submitBody);
    const workload = workloads[body.kind];
    if (!workload) throw badRequest(`Unknown kind "${body.kind}": GET /api/workloads lists the kinds (${Object.keys(workloads).join(', ')}).`, 'unknown_kind');
    const spec = workload.specSchema.safeParse(body.spec);
    if (!spec.success) throw badRequest(`Invalid ${body.kind} spec: ${describeIssues(spec.error)}.`, 'bad_spec');
    // 'freivalds' is the older name of 'check' (it was matmul's check, named for every workload).
    const asked = body.verification === 'freivalds' ? 'check' : body.verification;
    const verification = asked ?? (workload.check ? 'check' : 'replicate');
    if (verification === 'check' && !workload.check) throw badRequest(`${workload.kind} has no cheap check: use "verification": "replicate".`);
    const replication = verification === 'check' ? 1 : body.replication;
    const bid = body.bid === undefined ? await currentPrice(db) : toMicro(body.bid, 'bid');
    if (bid < 1) throw badRequest('bid must be at least 0.000001 credit per GFLOP.');
    const sharded = await workload.shard(spec.data, deps.blobs, accountId);
    const executions = verification === 'check' ? 1 : replication;
    const { estimate, escrow: wanted } = estimateEscrow([...sharded.units.map((u) => u.flops), ...laterUnitFlops(sharded)], bid, executions, verification === 'check' ? 0 : replicateHeadroom);
    const budget = body.budget === undefined ? undefined : toMicro(body.budget, 'budget');
    if (budget !== undefined && budget < estimate) {
      throw badRequest(`budget ${body.budget} is under the job's estimate of ${showCredits(estimate)} credits at a bid of ${showCredits(bid)} per GFLOP: raise it or leave it out.`, 'budget_too_low');
    }
    return { workload, spec: spec.data, verification, replication, bid, sharded, executions, estimate, escrow: budget ?? wanted, name: body.name, tags: body.tags, webhook: body.webhook };
  }

  // What a job would cost, before submitting it (the portal shows it).
  app.post('/jobs/estimate', async (c) => {
    const plan = await planJob(c, requireAccount(c));
    const wallet = await walletOf(db, requireAccount(c));
    return c.json({ kind: plan.workload.kind, units: plan.sharded.units.length + (plan.sharded.laterUnits?.count ?? 0), verification: plan.verification, bid: toCredits(plan.bid), estimate: { flops: plan.sharded.flops * plan.executions, credits: toCredits(plan.estimate) }, escrow: toCredits(plan.escrow), available: wallet.available });
  });

  app.post('/jobs', async (c) => {
    const accountId = requireAccount(c);
    const plan = await planJob(c, accountId);
    const { workload, spec, verification, replication, bid, sharded, executions, estimate, escrow } = plan;
    const job = await inTransaction(db, async (trx) => {
      const job = await trx
        .insertInto('jobs')
        .values({
          account_id: accountId,
          kind: workload.kind,
          spec: JSON.stringify(spec),
          plan: JSON.stringify(sharded.plan),
          state: 'queued',
          replication,
          verification,
          units_total: sharded.units.length,
          writing_until: sharded.units.length > unitsPerWrite ? new Date(Date.now() + writingLeaseMs) : null,
          units_planned: sharded.laterUnits ? sharded.units.length + sharded.laterUnits.count : null,
          round_deadline_at: roundDeadline(workload, sharded.plan),
          flops: sharded.flops,
          bid,
          escrow,
          estimate,
          name: plan.name ?? null,
          tags: plan.tags,
          webhook_url: plan.webhook ?? null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await escrowJob(trx, job, escrow);
      await insertUnits(trx, job, sharded.units.slice(0, unitsPerWrite), 0);
      return job;
    });
    deps.onWork();
    if (sharded.units.length > unitsPerWrite) {
      // The rest a chunk a transaction, nodes leasing the first meanwhile (writeUnits).
      const written = await writeUnits(db, job, sharded.units, unitsPerWrite).catch(async (err) => {
        await inTransaction(db, (trx) => failJob(trx, job.id, 'Its units could not all be written. Submit it again: the escrow not spent is back in your wallet.'));
        throw err;
      });
      if (!written) throw conflict('The job was cancelled while its units were being written.');
      deps.onWork();
    }
    return c.json({ id: job.id, state: job.state, units: job.units_planned ?? job.units_total, verification: job.verification, bid: toCredits(bid), estimate: { flops: sharded.flops * executions, credits: toCredits(estimate) }, escrow: toCredits(escrow), name: job.name, tags: job.tags }, 201);
  });

  // The secret that signs this account's webhooks (server/jobs/webhooks.ts), made on first ask.
  app.get('/webhooks/secret', async (c) => c.json({ secret: await webhookSecret(db, requireAccount(c)), signature: 'Standard Webhooks: webhook-signature = v1,base64(HMAC-SHA256(base64-decoded secret after whsec_, "webhook-id.webhook-timestamp.body"))' }));

  app.get('/jobs', async (c) => {
    const accountId = requireAccount(c);
    const asked = jobListQuery.safeParse(c.req.query());
    if (!asked.success) throw badRequest(`state is one or more of ${jobState.options.join(', ')}, comma-separated (?state=queued,running); tag is a tag.`);
    const { tag, state } = asked.data;
    let query = db.selectFrom('jobs').selectAll().where('account_id', '=', accountId);
    if (tag) query = query.where(sql<boolean>`tags @> array[${tag}]::text[]`);
    if (state) query = query.where('state', 'in', state.split(',') as z.infer<typeof jobState>[]);
    const jobs = await query.orderBy('created_at', 'desc').limit(100).execute();
    return c.json({ jobs: await jobViews(db, jobs) });
  });

  app.get('/jobs/:id', async (c) => c.json((await jobViews(db, [await ownJob(c)], deps.config))[0]));

  // More escrow for a job that waits on it (a replicate job that needed many extra replicas).
  app.post('/jobs/:id/budget', async (c) => {
    const job = await ownJob(c);
    const body = await parseBody(c, topUpBody);
    if (!['queued', 'running'].includes(job.state)) throw conflict(`The job is already ${job.state}.`);
    await inTransaction(db, (trx) => topUpEscrow(trx, job, toMicro(body.credits, 'credits'), body.idempotencyKey));
    deps.onWork();
    return c.json((await jobViews(db, [await ownJob(c)]))[0]);
  });

  // Progress as it happens. The job row is the truth and any coordinator process may move
  // it, so the stream polls the row and sends each change, ending with the terminal state.
  app.get('/jobs/:id/events', async (c) => {
    const first = await ownJob(c);
    return streamSSE(c, async (stream) => {
      let last = '';
      let aborted = false;
      stream.onAbort(() => {
        aborted = true;
      });
      for (let job = first; !aborted; ) {
        const [view] = await jobViews(db, [job], deps.config);
        const text = JSON.stringify(view);
        if (text !== last) await stream.writeSSE({ event: 'progress', data: text, id: String(job.updated_at.getTime()) });
        last = text;
        if (!['queued', 'running'].includes(job.state)) break;
        await stream.sleep(eventPollMs);
        job = (await db.selectFrom('jobs').selectAll().where('id', '=', job.id).executeTakeFirst()) ?? job;
      }
    });
  });

  // Each unit's state, for the portal's grid, and the job's verification figures.
  app.get('/jobs/:id/units', async (c) => {
    const job = await ownJob(c);
    const units = await db
      .selectFrom('units')
      .select(['idx', 'state', sql<number>`(select count(*)::int from attempts a where a.unit_id = units.id and a.state = 'leased' and a.deadline > now())`.as('leased')])
      .where('job_id', '=', job.id)
      .orderBy('idx')
      .execute();
    const attempts = await db
      .selectFrom('attempts')
      .innerJoin('units', 'units.id', 'attempts.unit_id')
      .select(['attempts.state', sql<number>`count(*)::int`.as('n')])
      .where('units.job_id', '=', job.id)
      .groupBy('attempts.state')
      .execute();
    const count = (state: string) => attempts.find((a) => a.state === state)?.n ?? 0;
    // Units in the order of the workload's grid (matmul: row-major over C's tiles); else a strip.
    const grid = workloads[job.kind]?.grid?.(job.plan as Record<string, unknown>) ?? { rows: 1, cols: units.length };
    return c.json({
      grid: { layers: 1, ...grid },
      preview: !!workloads[job.kind]?.preview,
      units: units.map((u) => (u.state === 'pending' && u.leased > 0 ? 'running' : u.state)),
      verification: { method: job.verification, executions: attempts.reduce((n, a) => n + (['valid', 'invalid', 'returned'].includes(a.state) ? a.n : 0), 0), valid: count('valid'), invalid: count('invalid'), expired: count('expired'), failed: count('failed') },
    });
  });

  app.get('/jobs/:id/preview', async (c) => {
    const job = await ownJob(c);
    const workload = workloads[job.kind];
    if (!workload?.preview) throw notFound(`A ${job.kind} job has no preview: its result is at /api/jobs/${job.id}/result once it is done.`);
    const png = await previews.draw(job, workload as Parameters<Previews['draw']>[1]);
    return c.body(png as Uint8Array<ArrayBuffer>, 200, { 'content-type': 'image/png', 'cache-control': 'no-store' });
  });

  app.get('/jobs/:id/result', async (c) => {
    const job = await ownJob(c);
    if (job.state !== 'done' || !job.result_sha256) {
      throw conflict(`The job is ${job.state} (${job.units_verified} of ${job.units_total} units verified): its result exists once it is done.`);
    }
    const { size, body } = await deps.blobs.open(job.result_sha256);
    return c.body(body, 200, {
      'content-type': job.result_type ?? 'application/octet-stream',
      'content-length': String(size),
      'content-disposition': `attachment; filename="${job.kind}-${job.id}.${job.result_extension ?? 'bin'}"`,
      etag: `"${job.result_sha256}"`,
    });
  });

  app.delete('/jobs/:id', async (c) => {
    const job = await ownJob(c);
    const cancelled = await cancelJob(db, job.id);
    if (!cancelled) throw conflict(`The job is already ${job.state}.`);
    deps.signals.cancel(cancelled, 'the job was cancelled'); // the nodes at work on it stop
    return c.json((await jobViews(db, [await db.selectFrom('jobs').selectAll().where('id', '=', job.id).executeTakeFirstOrThrow()]))[0]);
  });

  return app;
}
