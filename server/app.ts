import { sql } from 'kysely';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { apiDocRoutes } from './api/routes.ts';
import { authRoutes } from './auth/routes.ts';
import { principalMiddleware } from './auth/principal.ts';
import { blobRoutes } from './blobs/routes.ts';
import type { AppEnv, Deps } from './context.ts';
import { AppError } from './errors.ts';
import { jobRoutes } from './jobs/routes.ts';
import { ledgerRoutes } from './ledger/routes.ts';
import { nodeRoutes } from './nodes/routes.ts';
import { findSite, siteRoutes } from './sites/routes.ts';
import { statsRoutes } from './stats/routes.ts';
import pkg from '../package.json' with { type: 'json' };

export const version = pkg.version;

/** The composition root: the one place features are wired together. */
export function createApp(deps: Deps) {
  const app = new Hono<AppEnv>();

  app.onError((err, c) => {
    if (err instanceof AppError) {
      // A refused upload may leave body bytes on the wire: close, so the client does not reuse it.
      if (err.status === 413) c.header('connection', 'close');
      return c.json({ error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } }, err.status);
    }
    if (err instanceof HTTPException) return c.json({ error: { code: 'http', message: err.message } }, err.status);
    console.error(err);
    return c.json({ error: { code: 'internal', message: 'Something failed on our side; nothing was changed. Try again.' } }, 500);
  });
  app.notFound((c) => c.json({ error: { code: 'not_found', message: `No route ${c.req.method} ${c.req.path}.` } }, 404));

  app.get('/api/health', (c) => c.json({ ok: true, version }));
  // For an orchestrator: live while the process answers; ready while it takes work and its store answers.
  app.get('/api/health/live', (c) => c.json({ ok: true }));
  app.get('/api/health/ready', async (c) => {
    if (deps.lifecycle.draining) return c.json({ error: { code: 'not_ready', message: 'Shutting down: finishing the work in hand.' } }, 503);
    try {
      await sql`select 1`.execute(deps.db);
    } catch (err) {
      return c.json({ error: { code: 'not_ready', message: `The store does not answer: ${(err as Error).message}` } }, 503);
    }
    return c.json({ ready: true });
  });
  app.route('/', apiDocRoutes(version));
  app.use('/api/*', principalMiddleware(deps));
  app.route('/api', authRoutes(deps));
  app.route('/api', blobRoutes(deps));
  app.route('/api', jobRoutes(deps));
  app.route('/api', ledgerRoutes(deps));
  app.route('/api', nodeRoutes(deps));
  app.route('/api', siteRoutes(deps));
  app.route('/', statsRoutes(deps));

  // The widget's iframe: framed only by its site's origins (a header: a meta tag cannot say
  // frame-ancestors), and never cached across sites.
  app.get('/widget.html', async (c) => {
    const file = join(deps.config.webDir, 'widget.html');
    const site = await findSite(deps, c.req.query('site') ?? '').catch(() => null);
    c.header('cache-control', 'no-store');
    c.header('content-security-policy', `frame-ancestors ${site ? (site.origins as string[]).join(' ') : "'none'"}`);
    if (!site) return c.text('No such site: check the data-site key of the widget.', 404);
    if (!existsSync(file)) return c.text('The pages are not built: run vite build.', 503);
    return c.html(readFileSync(file, 'utf8'));
  });
  // The pages: `/` is the contribute page, `/network` the network's figures, `/portal` the developer portal (vite.config.ts).
  const pages: Record<string, string> = { '/network': '/network.html', '/portal': '/portal.html' };
  if (existsSync(deps.config.webDir)) app.use('/*', serveStatic({ root: deps.config.webDir, rewriteRequestPath: (path) => pages[path] ?? path }));
  return app;
}
