import { Readable } from 'node:stream';
import { createReadStream } from 'node:fs';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import type { AppEnv, Ctx, Deps } from '../context.ts';
import { requireAccount, requireOwner } from '../context.ts';
import { inTransaction } from '../db/index.ts';
import { badRequest, conflict, notFound } from '../errors.ts';
import { describeIssues, parseBody } from '../validate.ts';
import { workloads } from '../workloads/registry.ts';
import { cancelJob } from './finish.ts';
import { jobView } from './view.ts';

const submitBody = z.object({
  kind: z.string().min(1).max(50),
  spec: z.unknown(),
  /** How results are proven: a cheap check of each (`freivalds`, one execution per unit,
   * the default where the workload has one) or agreeing replicas (`replicate`). */
  verification: z.enum(['freivalds', 'replicate']).optional(),
  /** For `replicate`: agreeing replicas from different accounts that verify each unit. */
  replication: z.number().int().min(2).max(5).default(2),
  bid: z.number().positive().optional(),
  budget: z.number().positive().optional(),
});
const insertBatch = 500;
const eventPollMs = 500;

export function jobRoutes(deps: Deps) {
  const app = new Hono<AppEnv>();
  const { db } = deps;

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

  app.post('/jobs', async (c) => {
    const accountId = requireAccount(c);
    const body = await parseBody(c, submitBody);
    const workload = workloads[body.kind];
    if (!workload) throw badRequest(`Unknown kind "${body.kind}": GET /api/workloads lists the kinds (${Object.keys(workloads).join(', ')}).`, 'unknown_kind');
    const spec = workload.specSchema.safeParse(body.spec);
    if (!spec.success) throw badRequest(`Invalid ${body.kind} spec: ${describeIssues(spec.error)}.`, 'bad_spec');
    const verification = body.verification ?? (workload.check ? 'freivalds' : 'replicate');
    if (verification === 'freivalds' && !workload.check) throw badRequest(`${workload.kind} has no cheap check: use "verification": "replicate".`);
    const replication = verification === 'freivalds' ? 1 : body.replication;
    const sharded = await workload.shard(spec.data, deps.blobs, accountId);
    const job = await inTransaction(db, async (trx) => {
      const job = await trx
        .insertInto('jobs')
        .values({
          account_id: accountId,
          kind: workload.kind,
          spec: JSON.stringify(spec.data),
          plan: JSON.stringify(sharded.plan),
          state: 'queued',
          replication,
          verification,
          units_total: sharded.units.length,
          flops: sharded.flops,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      for (let i = 0; i < sharded.units.length; i += insertBatch) {
        const rows = sharded.units.slice(i, i + insertBatch).map((u, j) => ({
          job_id: job.id,
          idx: i + j,
          params: JSON.stringify(u.params),
          inputs: JSON.stringify(u.inputs),
          flops: u.flops,
          state: 'pending' as const,
          replicas: replication,
        }));
        await trx.insertInto('units').values(rows).execute();
      }
      return job;
    });
    deps.onWork();
    const view = jobView(job);
    return c.json({ id: job.id, state: job.state, units: job.units_total, verification: job.verification, estimate: view.estimate }, 201);
  });

  app.get('/jobs', async (c) => {
    const accountId = requireAccount(c);
    const jobs = await db.selectFrom('jobs').selectAll().where('account_id', '=', accountId).orderBy('created_at', 'desc').limit(100).execute();
    return c.json({ jobs: jobs.map(jobView) });
  });

  app.get('/jobs/:id', async (c) => c.json(jobView(await ownJob(c))));

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
        const view = jobView(job);
        const text = JSON.stringify(view);
        if (text !== last) await stream.writeSSE({ event: 'progress', data: text, id: String(job.updated_at.getTime()) });
        last = text;
        if (!['queued', 'running'].includes(job.state)) break;
        await stream.sleep(eventPollMs);
        job = (await db.selectFrom('jobs').selectAll().where('id', '=', job.id).executeTakeFirst()) ?? job;
      }
    });
  });

  app.get('/jobs/:id/result', async (c) => {
    const job = await ownJob(c);
    if (job.state !== 'done' || !job.result_sha256) {
      throw conflict(`The job is ${job.state} (${job.units_verified} of ${job.units_total} units verified): its result exists once it is done.`);
    }
    const size = await deps.blobs.size(job.result_sha256);
    const stream = Readable.toWeb(createReadStream(deps.blobs.path(job.result_sha256))) as ReadableStream;
    return c.body(stream, 200, {
      'content-type': 'application/octet-stream',
      'content-length': String(size),
      'content-disposition': `attachment; filename="${job.kind}-${job.id}.npy"`,
      etag: `"${job.result_sha256}"`,
    });
  });

  app.delete('/jobs/:id', async (c) => {
    const job = await ownJob(c);
    if (!(await cancelJob(db, job.id))) throw conflict(`The job is already ${job.state}.`);
    return c.json(jobView((await db.selectFrom('jobs').selectAll().where('id', '=', job.id).executeTakeFirstOrThrow())));
  });

  return app;
}
