import { z } from 'zod';

/**
 * The developer API's shapes, one place: the request schemas the routes validate with, and the
 * response schemas the OpenAPI document (server/api/openapi.ts), the typed client
 * (server/api/client.ts) and the tests use. Isomorphic: zod only, no Node APIs.
 */

// --- requests --------------------------------------------------------------------------------
export const signupBody = z.object({
  email: z.email().max(254).transform((e) => e.toLowerCase()),
  password: z.string().min(10, 'Use a password of at least 10 characters.').max(256),
});
export const loginBody = signupBody.extend({ password: z.string().min(1).max(256) });
export const keyBody = z.object({ name: z.string().trim().min(1).max(100) });

export const submitBody = z.object({
  kind: z.string().min(1).max(50).describe('a workload kind from GET /api/workloads'),
  spec: z.unknown().describe("the workload's spec (its JSON Schema is in GET /api/workloads)"),
  verification: z
    .enum(['check', 'replicate', 'freivalds'])
    .optional()
    .describe("how results are proven: the workload's cheap check of each result (check: one execution per unit, the default where the workload has one; matmul's is Freivalds' test, and 'freivalds' is an older name for it) or agreeing replicas from different accounts (replicate)"),
  replication: z.number().int().min(2).max(5).default(2).describe('for replicate: agreeing replicas from different accounts that verify each unit'),
  bid: z.number().positive().max(1e6).optional().describe('credits per GFLOP offered; the market price when absent'),
  budget: z.number().positive().max(1e9).optional().describe("credits to escrow instead of the estimate (at least the estimate)"),
  name: z.string().trim().min(1).max(100).optional().describe('your name for the job, shown in lists'),
  tags: z
    .array(z.string().regex(/^[\w.-]{1,32}$/, 'A tag is 1 to 32 letters, digits, dots, dashes or underscores.'))
    .max(10)
    .default([])
    .describe('tags to find the job by (GET /api/jobs?tag=…)'),
  webhook: z
    .string()
    .max(2000)
    .refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), 'The webhook is an http:// or https:// URL.')
    .optional()
    .describe('a URL told when the job ends: a signed POST of the job (Standard Webhooks; the secret is GET /api/webhooks/secret)'),
});
export const topUpBody = z.object({ credits: z.number().positive().max(1e9), idempotencyKey: z.string().min(1).max(100) });

export const transferBody = z.object({
  to: z.string().trim().min(1).max(254).describe("the recipient's account id or email"),
  amount: z.number().positive().max(1e9).describe('credits, up to 6 decimals'),
  idempotencyKey: z.string().min(1).max(100).describe('yours to choose; a retry with the same key applies once'),
  memo: z.string().max(200).optional(),
});
export const transfersQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100), before: z.coerce.number().int().positive().optional() });
export const leaderboardQuery = z.object({ limit: z.coerce.number().int().min(1).max(100).default(10), period: z.enum(['all', 'day']).default('all') });
export const usageQuery = z.object({ days: z.coerce.number().int().min(1).max(366).default(30).describe('how many days back, today included') });
export const nodeQuery = z.object({ since: z.coerce.number().optional().describe('ms since the epoch: credits.since counts from then') });

const origin = z.string().regex(/^https?:\/\/[^/\s]+$/, 'an origin: scheme://host[:port], no path');
export const siteBody = z.object({
  name: z.string().trim().min(1).max(100),
  origins: z.array(origin).min(1).max(20).describe('the exact origins allowed to embed the widget'),
  throttle: z.number().min(0.1).max(1).default(0.5).describe("the most of a visitor's GPU time the widget may use (a visitor may set less)"),
});
export const widgetSessionBody = z.object({ site: z.string().min(1).max(100), origin: origin.describe('the page embedding the widget') });

// --- responses -------------------------------------------------------------------------------
const when = z.iso.datetime({ offset: true }).or(z.string());
const uuid = z.uuid();
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

export const errorResponse = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.array(z.object({ line: z.number().int(), column: z.number().int(), message: z.string() })).optional().describe("where the fault is: a WGSL compiler's messages"),
  }),
});
export const health = z.object({ ok: z.literal(true), version: z.string() });
export const accountCreated = z.object({ account: z.object({ id: uuid, email: z.string() }) });
export const ok = z.object({ ok: z.literal(true) });
export const ready = z.object({ ready: z.literal(true) });
export const wallet = z.object({ available: z.number(), posted: z.number(), pendingIn: z.number(), pendingOut: z.number(), earned: z.number() });
export const me = z.object({
  id: uuid,
  email: z.string(),
  balance: z.number(),
  wallet,
  createdAt: when,
  reputation: z.object({ valid: z.number(), invalid: z.number(), expired: z.number(), trust: z.number(), quarantined: z.boolean() }),
});
export const apiKey = z.object({ id: uuid, name: z.string(), prefix: z.string(), createdAt: when, lastUsedAt: when.nullable().optional() });
export const keyCreated = apiKey.extend({ secret: z.string().startsWith('sn_'), note: z.string() });
export const keyList = z.object({ keys: z.array(apiKey) });
export const workloadList = z.object({
  workloads: z.array(z.object({ kind: z.string(), description: z.string(), specSchema: z.record(z.string(), z.unknown()), examples: z.array(z.unknown()) })),
});
export const blobStored = z.object({ sha256, size: z.number().int() });
export const jobState = z.enum(['queued', 'running', 'done', 'failed', 'cancelled']);
export const jobSubmitted = z.object({
  id: uuid,
  state: jobState,
  units: z.number().int(),
  verification: z.enum(['check', 'replicate']),
  bid: z.number(),
  estimate: z.object({ flops: z.number(), credits: z.number() }),
  escrow: z.number(),
  name: z.string().nullable(),
  tags: z.array(z.string()),
});
export const job = z.object({
  id: uuid,
  kind: z.string(),
  state: jobState,
  spec: z.unknown(),
  verification: z.enum(['check', 'replicate']),
  replication: z.number().int(),
  progress: z.object({ units: z.number().int().describe('of the whole job: a job with rounds counts the units of rounds not made yet'), verified: z.number().int(), round: z.number().int().optional().describe('a job with rounds (train): the round at work, from 0') }),
  live: z.record(z.string(), z.unknown()).nullable().describe("what the workload shows of the job beyond its units (train: round, rounds, the loss and accuracy curve, the test accuracy once done)"),
  bid: z.number(),
  estimate: z.object({ flops: z.number(), credits: z.number() }),
  cost: z.object({ credits: z.number(), escrowed: z.number(), paid: z.number(), pending: z.number(), refunded: z.number(), left: z.number() }),
  error: z.string().nullable(),
  result: z.string().nullable().describe('where to GET the result once the job is done'),
  createdAt: when,
  finishedAt: when.nullable(),
  name: z.string().nullable(),
  tags: z.array(z.string()),
  activity: z
    .object({
      nodesWorking: z.number().int().describe('nodes holding a lease on its units now'),
      unitsPerMinute: z.number().describe('units verified a minute, over the last two minutes'),
      etaSeconds: z.number().nullable().describe('at that pace, until the last unit is verified'),
      waiting: z.string().nullable().describe('why nothing is being done on it, and what to do, when nothing is'),
    })
    .nullable()
    .describe('while it is queued or running (GET /api/jobs/{id} and its events; null in lists)'),
  webhook: z
    .object({
      url: z.string(),
      delivery: z
        .object({
          state: z.enum(['pending', 'delivered', 'failed']),
          event: z.string().describe('job.done, job.failed or job.cancelled'),
          attempts: z.number().int(),
          lastStatus: z.number().int().nullable().describe('the HTTP status of the last try'),
          lastError: z.string().nullable().describe('why the last try did not deliver'),
          deliveredAt: when.nullable(),
          nextAt: when.nullable().describe('when it is tried again, while pending'),
        })
        .nullable()
        .describe('null until the job ends'),
    })
    .nullable()
    .describe('the URL told when the job ends, and how that went'),
});
export const webhookSecret = z.object({ secret: z.string().describe('whsec_…: verify the webhook-signature header with it'), signature: z.string() });
export const jobList = z.object({ jobs: z.array(job) });
const statesList = new RegExp(`^(${jobState.options.join('|')})(,(${jobState.options.join('|')}))*$`);
export const jobListQuery = z.object({
  tag: z.string().min(1).optional().describe('only jobs with this tag'),
  state: z.string().regex(statesList).optional().describe('only jobs in these states, comma-separated (running, or queued,running)'),
});
export const usage = z.object({
  days: z.array(
    z.object({
      day: z.string().describe('YYYY-MM-DD, UTC'),
      earned: z.number().describe('credits your nodes earned for verified work'),
      unitsVerified: z.number().int().describe('units behind them'),
      spent: z.number().describe('credits your jobs paid out for verified work'),
      jobs: z.number().int().describe('jobs you submitted'),
    }),
  ),
});
export const historyList = z.object({
  entries: z.array(
    z.object({
      kind: z.enum(['earned', 'spent', 'grant', 'transfer', 'mint', 'vetting']),
      title: z.string(),
      amount: z.number().describe('credits, signed: in is positive'),
      pending: z.number().describe('reserved, not settled yet: pay awaiting its check, or escrow a running job holds'),
      units: z.number().int().nullable(),
      jobId: z.string().nullable(),
      at: when,
    }),
  ),
});
export const transferView = z.object({
  id: z.string(),
  seq: z.number().int(),
  kind: z.enum(['single', 'pending', 'post', 'void']),
  code: z.string(),
  direction: z.enum(['in', 'out']),
  counterparty: z.string(),
  amount: z.number(),
  pendingId: z.string().nullable(),
  jobId: z.string().nullable(),
  attemptId: z.string().nullable(),
  memo: z.string().nullable(),
  at: when,
});
export const transferList = z.object({ transfers: z.array(transferView), next: z.number().int().nullable() });
export const transferDone = z.object({ applied: z.boolean(), transfer: transferView });
export const market = z.object({
  unit: z.string(),
  price: z.number(),
  base: z.number(),
  bounds: z.object({ min: z.number(), max: z.number(), stepMax: z.number() }),
  demand: z.object({ flops: z.number(), queueSeconds: z.number().nullable() }),
  supply: z.object({ gflops: z.number(), nodes: z.number().int() }),
  rule: z.string(),
  history: z.array(z.object({ at: when, price: z.number() })),
});
const blobBytes = z.object({ fromPeers: z.number(), fromCoordinator: z.number(), toPeers: z.number() });
export const stats = z.object({
  nodesOnline: z.number().int(),
  gflops: z.number(),
  jobsRunning: z.number().int(),
  unitsQueued: z.number().int(),
  unitsVerified: z.number().int(),
  verification: z.object({ valid: z.number().int(), invalid: z.number().int(), expired: z.number().int() }),
  /** Blob bytes nodes took from each other (peer to peer) and from the coordinators, as they report them. */
  blobs: blobBytes,
});
export const nodeFigures = z.object({
  id: uuid,
  name: z.string(),
  online: z.boolean(),
  gflops: z.number(),
  connectedAt: when,
  lastSeenAt: when,
  units: z.object({ valid: z.number(), invalid: z.number(), expired: z.number(), failed: z.number(), released: z.number(), inFlight: z.number() }),
  tflopsVerified: z.number(),
  credits: z.object({ earned: z.number(), pending: z.number(), since: z.number() }),
  /** Blob bytes this node took from peers and from the coordinators, and gave to peers, as it reported them. */
  blobs: blobBytes,
});
export const leaderboard = z.object({
  period: z.enum(['all', 'day']),
  contributors: z.array(z.object({ rank: z.number().int(), name: z.string(), unitsVerified: z.number().int(), earned: z.number(), you: z.boolean() })),
});

export const jobEstimate = z.object({
  kind: z.string(),
  units: z.number().int(),
  verification: z.enum(['check', 'replicate']),
  bid: z.number(),
  estimate: z.object({ flops: z.number(), credits: z.number() }),
  escrow: z.number().describe('what submitting would escrow from your wallet'),
  available: z.number().describe('your wallet now'),
});
export const jobUnits = z.object({
  grid: z.object({ rows: z.number().int(), cols: z.number().int(), layers: z.number().int().describe('units are layers × rows × cols in order (render: a layer per batch of samples)') }),
  preview: z.boolean().describe('whether GET /api/jobs/{id}/preview draws the job so far'),
  units: z.array(z.enum(['pending', 'running', 'verified', 'failed', 'cancelled'])),
  verification: z.object({ method: z.enum(['check', 'replicate']), executions: z.number().int(), valid: z.number().int(), invalid: z.number().int(), expired: z.number().int(), failed: z.number().int() }),
});

export const site = z.object({
  id: uuid,
  name: z.string(),
  key: z.string().startsWith('site_'),
  origins: z.array(z.string()),
  throttle: z.number(),
  createdAt: when,
  embed: z.string().describe('the script tag to paste into the site'),
  earned: z.number().describe('credits earned by widget nodes on this site'),
  nodes: z.number().int().describe('widget nodes that worked for this site'),
});
export const siteList = z.object({ sites: z.array(site) });
export const widgetConfig = z.object({ name: z.string(), origins: z.array(z.string()), throttle: z.number() });
export const widgetSession = z.object({ token: z.string().startsWith('snw_'), expiresAt: when });

export type Job = z.infer<typeof job>;
export type JobSubmitted = z.infer<typeof jobSubmitted>;
export type Me = z.infer<typeof me>;
export type Market = z.infer<typeof market>;
export type Stats = z.infer<typeof stats>;
