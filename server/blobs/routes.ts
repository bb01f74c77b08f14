import { Hono } from 'hono';
import type { AppEnv, Deps } from '../context.ts';
import { badRequest, notFound, tooLarge, unauthorized } from '../errors.ts';
import { sha256Pattern } from './store.ts';
import { recordUpload, uploaderOf } from './uploads.ts';

/** Blobs never change, so clients and proxies may keep them for a year. */
const immutable = 'public, max-age=31536000, immutable';

export function blobRoutes(deps: Deps) {
  const app = new Hono<AppEnv>();
  const { blobs } = deps;

  // Any signed-in account, API key or node may store bytes (nodes upload their results).
  app.put('/blobs', async (c) => {
    const principal = c.get('principal');
    if (!principal) throw unauthorized();
    const declared = Number(c.req.header('content-length') ?? NaN);
    if (declared > blobs.bytesMax) throw tooLarge(`The upload is ${declared} bytes, over the ${blobs.bytesMax}-byte limit (SUPERNET_BLOB_MAX_BYTES).`);
    const expected = c.req.header('x-content-sha256')?.toLowerCase();
    if (expected !== undefined && !sha256Pattern.test(expected)) throw badRequest('X-Content-SHA256 must be 64 hex digits.');
    const body = c.req.raw.body;
    if (!body) throw badRequest('Send the blob as the request body.');
    const stored = await blobs.put(body as unknown as AsyncIterable<Uint8Array>, principal.accountId, { limited: true, expectedSha256: expected });
    await recordUpload(deps.db, stored.sha256, uploaderOf(principal));
    return c.json(stored, 201);
  });

  app.get('/blobs/:sha256', async (c) => {
    const sha256 = c.req.param('sha256');
    if (!(await blobs.has(sha256))) throw notFound(`No blob ${sha256.slice(0, 12)}…`);
    if (c.req.header('if-none-match') === `"${sha256}"`) return c.body(null, 304);
    const { size, body } = await blobs.open(sha256);
    deps.metrics.blobEgress.inc(size);
    return c.body(body, 200, {
      'content-type': 'application/octet-stream',
      'content-length': String(size),
      'cache-control': immutable,
      etag: `"${sha256}"`,
    });
  });

  return app;
}
