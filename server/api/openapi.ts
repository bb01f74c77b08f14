import { z } from 'zod';
import * as s from './schemas.ts';

/**
 * The developer API as OpenAPI 3.1, made from the zod schemas the routes validate with
 * (server/api/schemas.ts): a call added to the server without a line here is missing from
 * the document, and tests/api/openapi.test.ts checks every call DESIGN.md promises is here,
 * that the document validates, and that live responses fit their schemas.
 */
type Auth = 'none' | 'account' | 'optional' | 'node';
type Body = z.ZodType | 'binary';
type Reply = z.ZodType | 'binary' | 'sse' | 'text' | 'websocket';

export interface Operation {
  method: 'get' | 'post' | 'put' | 'delete';
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  auth: Auth;
  body?: Body;
  query?: z.ZodObject;
  /** The success status and its body; the errors it can answer. */
  ok: [number, Reply];
  errors?: number[];
}

export const operations: Operation[] = [
  { method: 'get', path: '/api/health', operationId: 'health', summary: 'Is the coordinator up, and which version', tag: 'meta', auth: 'none', ok: [200, s.health] },
  { method: 'get', path: '/api/health/live', operationId: 'live', summary: 'Liveness: the process answers', tag: 'meta', auth: 'none', ok: [200, s.ok] },
  { method: 'get', path: '/api/health/ready', operationId: 'ready', summary: 'Readiness: it takes work and its store answers (503 while shutting down, with the reason)', tag: 'meta', auth: 'none', ok: [200, s.ready], errors: [503] },
  { method: 'get', path: '/api/openapi.json', operationId: 'openapi', summary: 'This document', tag: 'meta', auth: 'none', ok: [200, z.record(z.string(), z.unknown())] },
  { method: 'post', path: '/api/auth/signup', operationId: 'signup', summary: 'Create an account and sign in (session cookie)', tag: 'accounts', auth: 'none', body: s.signupBody, ok: [201, s.accountCreated], errors: [400, 403, 409] },
  { method: 'post', path: '/api/auth/login', operationId: 'login', summary: 'Sign in (session cookie)', tag: 'accounts', auth: 'none', body: s.loginBody, ok: [200, s.accountCreated], errors: [400, 401, 403, 429] },
  { method: 'post', path: '/api/auth/logout', operationId: 'logout', summary: 'Sign out', tag: 'accounts', auth: 'optional', ok: [200, s.ok] },
  { method: 'get', path: '/api/me', operationId: 'me', summary: 'The signed-in account: balance, wallet, reputation', tag: 'accounts', auth: 'account', ok: [200, s.me], errors: [401] },
  { method: 'post', path: '/api/keys', operationId: 'createKey', summary: 'Create an API key (its secret is shown once)', tag: 'accounts', auth: 'account', body: s.keyBody, ok: [201, s.keyCreated], errors: [400, 401] },
  { method: 'get', path: '/api/keys', operationId: 'listKeys', summary: 'Your API keys (never their secrets)', tag: 'accounts', auth: 'account', ok: [200, s.keyList], errors: [401] },
  { method: 'delete', path: '/api/keys/{id}', operationId: 'revokeKey', summary: 'Revoke an API key', tag: 'accounts', auth: 'account', ok: [200, s.ok], errors: [401, 404] },
  { method: 'get', path: '/api/workloads', operationId: 'workloads', summary: 'Every workload: kind, description, spec JSON Schema, runnable examples', tag: 'jobs', auth: 'none', ok: [200, s.workloadList] },
  { method: 'put', path: '/api/blobs', operationId: 'putBlob', summary: 'Store bytes (content-addressed; optional X-Content-SHA256 is checked)', tag: 'blobs', auth: 'account', body: 'binary', ok: [201, s.blobStored], errors: [400, 401, 413] },
  { method: 'get', path: '/api/blobs/{sha256}', operationId: 'getBlob', summary: 'The bytes of a blob (cacheable forever)', tag: 'blobs', auth: 'none', ok: [200, 'binary'], errors: [404] },
  { method: 'post', path: '/api/jobs', operationId: 'submitJob', summary: 'Validate, shard and escrow a job', tag: 'jobs', auth: 'account', body: s.submitBody, ok: [201, s.jobSubmitted], errors: [400, 401, 402] },
  { method: 'post', path: '/api/jobs/estimate', operationId: 'estimateJob', summary: 'What a job would cost (the same body as POST /api/jobs); creates nothing', tag: 'jobs', auth: 'account', body: s.submitBody, ok: [200, s.jobEstimate], errors: [400, 401] },
  { method: 'get', path: '/api/jobs/{id}/units', operationId: 'jobUnits', summary: "Each unit's state (a grid of C's tiles for matmul) and the job's verification figures", tag: 'jobs', auth: 'account', ok: [200, s.jobUnits], errors: [401, 403, 404] },
  { method: 'get', path: '/api/webhooks/secret', operationId: 'webhookSecret', summary: "The secret that signs your jobs' webhooks (made on first ask)", tag: 'jobs', auth: 'account', ok: [200, s.webhookSecret], errors: [401] },
  { method: 'get', path: '/api/jobs', operationId: 'listJobs', summary: 'Your jobs, newest first (100), by tag or state if asked', tag: 'jobs', auth: 'account', query: s.jobListQuery, ok: [200, s.jobList], errors: [400, 401] },
  { method: 'get', path: '/api/jobs/{id}', operationId: 'getJob', summary: 'A job: state, progress, cost so far', tag: 'jobs', auth: 'account', ok: [200, s.job], errors: [401, 403, 404] },
  { method: 'post', path: '/api/jobs/{id}/budget', operationId: 'topUpJob', summary: "Add to a running job's escrow", tag: 'jobs', auth: 'account', body: s.topUpBody, ok: [200, s.job], errors: [400, 401, 402, 403, 404, 409] },
  { method: 'get', path: '/api/jobs/{id}/events', operationId: 'jobEvents', summary: 'Server-sent `progress` events (the job, as GET /api/jobs/{id}) until it ends', tag: 'jobs', auth: 'account', ok: [200, 'sse'], errors: [401, 403, 404] },
  { method: 'get', path: '/api/jobs/{id}/preview', operationId: 'jobPreview', summary: 'The job so far as a PNG, from its verified units (render: the picture at the samples verified yet); 404 for a kind without one', tag: 'jobs', auth: 'account', ok: [200, 'binary'], errors: [401, 403, 404] },
  { method: 'get', path: '/api/jobs/{id}/result', operationId: 'jobResult', summary: 'The assembled result with its content type and file name (.npy for matmul, .png for render)', tag: 'jobs', auth: 'account', ok: [200, 'binary'], errors: [401, 403, 404, 409] },
  { method: 'delete', path: '/api/jobs/{id}', operationId: 'cancelJob', summary: 'Cancel a job; valid work is paid, the rest of the escrow returns', tag: 'jobs', auth: 'account', ok: [200, s.job], errors: [401, 403, 404, 409] },
  { method: 'get', path: '/api/usage', operationId: 'usage', summary: 'Your last days (30, or ?days=1…366), a row a UTC day: earned, units verified, spent, jobs', tag: 'credits', auth: 'account', query: s.usageQuery, ok: [200, s.usage], errors: [400, 401] },
  { method: 'get', path: '/api/ledger/history', operationId: 'history', summary: 'Your credit history as people read it: a line for each job worked on or paid for, each grant and transfer', tag: 'credits', auth: 'account', ok: [200, s.historyList], errors: [401] },
  { method: 'get', path: '/api/ledger/transfers', operationId: 'transfers', summary: 'Your transfers, newest first', tag: 'credits', auth: 'account', query: s.transfersQuery, ok: [200, s.transferList], errors: [400, 401] },
  { method: 'post', path: '/api/transfers', operationId: 'transfer', summary: 'Send credits to another account (once per idempotency key)', tag: 'credits', auth: 'account', body: s.transferBody, ok: [201, s.transferDone], errors: [400, 401, 402, 404, 409] },
  { method: 'get', path: '/api/market', operationId: 'market', summary: 'The price of compute per GFLOP, its rule and history', tag: 'credits', auth: 'none', ok: [200, s.market] },
  { method: 'get', path: '/api/stats', operationId: 'stats', summary: 'Nodes online, aggregate GFLOP/s, queue depth, verification counts', tag: 'network', auth: 'none', ok: [200, s.stats] },
  { method: 'get', path: '/api/nodes/{id}', operationId: 'nodeFigures', summary: "A node's own figures, for the node (its token) or its account", tag: 'network', auth: 'node', query: s.nodeQuery, ok: [200, s.nodeFigures], errors: [401, 404] },
  { method: 'get', path: '/api/leaderboard', operationId: 'leaderboard', summary: 'Top contributors by credits earned', tag: 'network', auth: 'optional', query: s.leaderboardQuery, ok: [200, s.leaderboard], errors: [400] },
  { method: 'post', path: '/api/sites', operationId: 'createSite', summary: 'Register a site for the widget: its name, the origins that may embed it, its throttle', tag: 'sites', auth: 'account', body: s.siteBody, ok: [201, s.site], errors: [400, 401] },
  { method: 'get', path: '/api/sites', operationId: 'listSites', summary: 'Your sites, with their embed tag and what their widgets earned', tag: 'sites', auth: 'account', ok: [200, s.siteList], errors: [401] },
  { method: 'delete', path: '/api/sites/{id}', operationId: 'deleteSite', summary: 'Remove a site: its widget stops working', tag: 'sites', auth: 'account', ok: [200, s.ok], errors: [401, 404] },
  { method: 'get', path: '/api/widget/sites/{key}', operationId: 'widgetConfig', summary: "What the widget needs to know about its site (public)", tag: 'sites', auth: 'none', ok: [200, s.widgetConfig], errors: [404] },
  { method: 'post', path: '/api/widget/sessions', operationId: 'widgetSession', summary: "The widget iframe's own token, for an origin the site allows", tag: 'sites', auth: 'none', body: s.widgetSessionBody, ok: [201, s.widgetSession], errors: [400, 403, 404] },
  { method: 'get', path: '/api/nodes/ws', operationId: 'nodeSocket', summary: 'WebSocket for nodes: JSON frames of the node protocol (server/protocol/messages.ts)', tag: 'network', auth: 'optional', ok: [101, 'websocket'] },
  { method: 'get', path: '/metrics', operationId: 'metrics', summary: 'Prometheus text format', tag: 'network', auth: 'none', ok: [200, 'text'] },
];

const errorText: Record<number, string> = {
  400: 'bad input (the message says what to fix)',
  401: 'not signed in, or a wrong API key',
  402: 'not enough credits',
  403: 'not yours, or from another site',
  404: 'no such thing',
  409: 'conflict with its state',
  413: 'too large',
  429: 'slow down',
  503: 'not ready: shutting down, or its store does not answer',
};

function jsonSchema(schema: z.ZodType, io: 'input' | 'output') {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

function reply(r: Reply) {
  if (r === 'binary') return { content: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } } };
  if (r === 'sse') return { content: { 'text/event-stream': { schema: { type: 'string' } } } };
  if (r === 'text') return { content: { 'text/plain': { schema: { type: 'string' } } } };
  if (r === 'websocket') return {};
  return { content: { 'application/json': { schema: jsonSchema(r, 'output') } } };
}

const security: Record<Auth, unknown[] | undefined> = {
  none: [],
  optional: [{}, { bearer: [] }, { session: [] }],
  account: [{ bearer: [] }, { session: [] }],
  node: [{ bearer: [] }, { session: [] }],
};

export function openApiDocument(version: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const params = [...op.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
    if (op.query) {
      const shape = jsonSchema(op.query, 'input') as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, schema] of Object.entries(shape.properties ?? {})) params.push({ name, in: 'query', required: shape.required?.includes(name) ?? false, schema } as never);
    }
    const responses: Record<string, unknown> = { [op.ok[0]]: { description: op.ok[0] === 101 ? 'switching to the WebSocket protocol' : 'success', ...reply(op.ok[1]) } };
    for (const status of op.errors ?? []) responses[status] = { description: errorText[status], content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    (paths[op.path] ??= {})[op.method] = {
      operationId: op.operationId,
      summary: op.summary,
      tags: [op.tag],
      security: security[op.auth],
      ...(params.length ? { parameters: params } : {}),
      ...(op.body
        ? {
            requestBody: {
              required: true,
              content: op.body === 'binary' ? { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } } : { 'application/json': { schema: jsonSchema(op.body, 'input') } },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Supernet',
      version,
      description: 'A volunteer GPU compute network. Programs send `Authorization: Bearer <api key>`; browsers use the session cookie. Errors are `{ "error": { "code", "message" } }`. Credits are decimal numbers (6 places).',
    },
    servers: [{ url: '/' }],
    tags: ['meta', 'accounts', 'jobs', 'blobs', 'credits', 'network', 'sites'].map((name) => ({ name })),
    paths,
    components: {
      schemas: { Error: jsonSchema(s.errorResponse, 'output') },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'an API key (sn_…) or, for nodes, a node token (snn_…)' },
        session: { type: 'apiKey', in: 'cookie', name: 'sn_session' },
      },
    },
  };
}
