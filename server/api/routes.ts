import { Hono } from 'hono';
import type { AppEnv } from '../context.ts';
import { openApiDocument, operations } from './openapi.ts';

const escape = (text: string) => text.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!);
/** Text with `code` in backticks, as the summaries are written, for a page: escaped, the code set as code. */
const prose = (text: string) => escape(text).replace(/`([^`]+)`/g, '<code>$1</code>');

/** GET /api/openapi.json, and /docs: the same document as a page people can read (no scripts, no CDN). */
export function apiDocRoutes(version: string) {
  const app = new Hono<AppEnv>();
  const doc = openApiDocument(version);
  app.get('/api/openapi.json', (c) => c.json(doc));
  app.get('/docs', (c) => {
    const sections = doc.tags.map(({ name }) => {
      const ops = operations.filter((op) => op.tag === name).map((op) => {
        const entry = doc.paths[op.path]![op.method] as { requestBody?: { content: Record<string, { schema: unknown }> }; responses: Record<string, { description: string; content?: Record<string, { schema: unknown }> }>; parameters?: { name: string; in: string }[] };
        const body = entry.requestBody ? Object.entries(entry.requestBody.content)[0]! : null;
        const ok = entry.responses[String(op.ok[0])]!;
        const okBody = ok.content ? Object.entries(ok.content)[0]! : null;
        const errors = (op.errors ?? []).map((e) => `${e} ${entry.responses[e]!.description}`).join(' · ');
        return `<section class="op" id="${op.operationId}">
  <h3><span class="method ${op.method}">${op.method.toUpperCase()}</span> <code>${escape(op.path)}</code></h3>
  <p>${prose(op.summary)} <span class="auth">${op.auth === 'none' ? 'no sign-in' : op.auth === 'optional' ? 'sign-in optional' : op.auth === 'node' ? 'the node’s token or its account' : 'API key or session'}</span></p>
  ${entry.parameters?.length ? `<p>Parameters: ${entry.parameters.map((p) => `<code>${escape(p.name)}</code> (${p.in})`).join(', ')}</p>` : ''}
  ${body ? `<details><summary>Request: ${escape(body[0])}</summary><pre>${escape(JSON.stringify(body[1].schema, null, 2))}</pre></details>` : ''}
  ${okBody ? `<details><summary>${op.ok[0]}: ${escape(okBody[0])}</summary><pre>${escape(JSON.stringify(okBody[1].schema, null, 2))}</pre></details>` : `<p>${op.ok[0]}: ${escape(ok.description)}</p>`}
  ${errors ? `<p class="errors">Errors: ${escape(errors)}</p>` : ''}
</section>`;
      });
      return `<h2 id="${name}">${name}</h2>\n${ops.join('\n')}`;
    });
    return c.html(`<!doctype html>
<html lang="en"><head><meta charset="utf-8" /><meta name="viewport" content="width=device-width, initial-scale=1" />
<title>Supernet API</title>
<style>
body { font-family: system-ui, sans-serif; color: #1d2330; background: #f6f7fb; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; }
.op { background: white; border-radius: 10px; padding: 0.6rem 1rem; margin: 0.8rem 0; box-shadow: 0 1px 3px #0002; }
.op h3 { margin: 0.3rem 0; font-size: 1.05rem; }
.method { display: inline-block; min-width: 4rem; font-size: 0.8rem; padding: 0.15rem 0.4rem; border-radius: 4px; color: white; background: #2563eb; text-align: center; }
.method.post { background: #16a34a; } .method.put { background: #ca8a04; } .method.delete { background: #dc2626; }
.auth { color: #667; font-size: 0.85rem; margin-left: 0.5rem; } .errors { color: #667; font-size: 0.85rem; }
pre { background: #f1f3f9; padding: 0.6rem; overflow-x: auto; font-size: 0.8rem; }
</style></head><body>
<h1>Supernet API <small>${escape(doc.info.version)}</small></h1>
<p>${prose(doc.info.description)} The machine-readable document: <a href="/api/openapi.json">/api/openapi.json</a> (OpenAPI 3.1). The typed client: <code>import { Supernet } from 'supernet'</code>.</p>
<nav><a href="#quick-start">quick start</a> · ${doc.tags.map(({ name }) => `<a href="#${name}">${name}</a>`).join(' · ')}</nav>
<h2 id="quick-start">Quick start</h2>
<section class="op">
<p>With the CLI, from nothing to a finished job (<code>npx supernet --help</code> for the rest):</p>
<pre>npx supernet signup --email you@example.com --password 'a long passphrase'   # an account and a key, saved for the CLI
npx supernet agent &amp;                                                          # your GPU as a node (or open / and press Start)
npx supernet submit render --scene cornell --width 256 --height 256 --spp 16 --wait --out image.png</pre>
<p>Over HTTP: make a key in the portal (<a href="/portal#/keys">API keys</a>), then</p>
<pre>ORIGIN=${escape(new URL(c.req.url).origin)} KEY=sn_…
curl -s -X POST $ORIGIN/api/jobs -H "authorization: Bearer $KEY" -H 'content-type: application/json' \
  -d '{"kind":"render","spec":{"scene":"cornell","width":256,"height":256,"spp":16},"name":"first render"}'
curl -s -H "authorization: Bearer $KEY" $ORIGIN/api/jobs/$ID          # progress, and why it waits if it does
curl -s -H "authorization: Bearer $KEY" $ORIGIN/api/jobs/$ID/result -o image.png</pre>
<p>Every error is <code>{ "error": { "code", "message" } }</code>, the message saying what to do; the kinds of job and their specs are in <a href="#workloads">GET /api/workloads</a>.</p>
</section>
${sections.join('\n')}
</body></html>`);
  });
  return app;
}
