// The developer portal: one page, hash routes (#/, #/new, #/job/ID, #/keys, #/credits), every
// call through the typed client (server/api/client.ts) on the session cookie.
import { Supernet, SupernetError, type Job } from '../../server/api/client.ts';
import { creditMeaning, formatCredits as credits } from '../../server/ledger/format.ts';
import { drawPairedBars } from '../chart.ts';
import { portals } from '../../workloads/portal.ts';
import type { InputsForm, PortalHost } from '../../workloads/types.ts';

const api = new Supernet();
const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const view = () => $('view');
const esc = (text: unknown) => String(text).replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!);
/** What a workload's portal half may ask of the page. */
const host: PortalHost = { putBlob: (bytes) => api.putBlob(bytes), esc };
const reason = (err: unknown) => (err instanceof SupernetError ? err.message : `Something failed: ${(err as Error).message}`);
let leave: (() => void) | null = null; // what the current view stops when another opens

// --- signing in ------------------------------------------------------------------------------
async function auth(kind: 'login' | 'signup') {
  try {
    const body = { email: $<HTMLInputElement>('email').value, password: $<HTMLInputElement>('password').value };
    await (kind === 'login' ? api.login(body) : api.signup(body));
    await boot();
  } catch (err) {
    $('signin-error').textContent = reason(err);
  }
}
$('signin').addEventListener('submit', (e) => {
  e.preventDefault();
  void auth('login');
});
$('signup-button').addEventListener('click', () => $<HTMLFormElement>('signin').reportValidity() && void auth('signup'));
$('signout').addEventListener('click', async () => {
  await api.logout();
  location.hash = '#/';
  await boot();
});

async function boot() {
  const me = await api.me().catch(() => null);
  $('signin-panel').hidden = !!me;
  $('app').hidden = !me;
  if (me) {
    $('who').textContent = me.email;
    await route();
  }
}

// --- routes ----------------------------------------------------------------------------------
// Routes render one at a time, in the order the hash changed, and only the newest of those waiting
// runs: a slow page (the new-job form loads the kinds and the price) that was left before it drew
// would otherwise draw over the page that replaced it.
let routing = Promise.resolve();
let routesAsked = 0;
function route(): Promise<void> {
  const asked = ++routesAsked;
  routing = routing.then(() => (asked === routesAsked ? drawRoute() : undefined));
  return routing;
}

async function drawRoute() {
  leave?.();
  leave = null;
  const [, page, id] = location.hash.split('/');
  delete view().dataset.route;
  try {
    if (page === 'new') await newJob();
    else if (page === 'job' && id) await jobPage(id);
    else if (page === 'keys') await keysPage();
    else if (page === 'credits') await creditsPage();
    else if (page === 'sites') await sitesPage();
    else await dashboard();
  } catch (err) {
    view().innerHTML = `<p class="error" role="alert">${esc(reason(err))}</p>`;
  }
  view().dataset.route = page || 'dashboard';
}
window.addEventListener('hashchange', () => void route());

/** "40 s", "3 min", "2 h 5 min". */
const duration = (seconds: number) => (seconds < 90 ? `${Math.max(1, Math.round(seconds))} s` : seconds < 5400 ? `${Math.round(seconds / 60)} min` : `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`);

const jobRow = (j: Job) =>
  `<tr><td><a href="#/job/${j.id}">${j.name ? esc(j.name) : j.id.slice(0, 8)}</a>${j.tags.map((t) => ` <span class="tag">${esc(t)}</span>`).join('')}</td><td>${esc(j.kind)}</td><td>${j.state}</td><td><div class="progress" title="${j.progress.verified}/${j.progress.units}"><div style="width:${(100 * j.progress.verified) / Math.max(1, j.progress.units)}%"></div></div></td><td>${credits(j.cost.credits)}</td><td>${new Date(j.createdAt).toLocaleString()}</td></tr>`;

async function dashboard() {
  const [me, { jobs }, market] = await Promise.all([api.me(), api.listJobs(), api.market()]);
  const running = jobs.filter((j) => j.state === 'queued' || j.state === 'running');
  const dayAgo = Date.now() - 24 * 3600_000;
  const spent = jobs.filter((j) => new Date(j.createdAt).getTime() > dayAgo).reduce((sum, j) => sum + j.cost.credits, 0);
  view().innerHTML = `
    <section class="stats">
      <div><strong id="balance">${credits(me.balance)}</strong><span>credits available</span></div>
      <div><strong>${credits(me.wallet.pendingOut)}</strong><span>held for your jobs</span></div>
      <div><strong>${credits(spent)}</strong><span>spent in the last 24 h</span></div>
      <div><strong>${running.length}</strong><span>jobs running</span></div>
      <div><strong>${credits(market.price)}</strong><span>credits per GFLOP now</span></div>
      <div><strong>${credits(me.wallet.earned)}</strong><span>earned contributing</span></div>
    </section>
    <p class="note" id="credit-meaning">${esc(creditMeaning)}</p>
    <p><a href="#/new"><button class="primary" type="button">New job</button></a></p>
    <h2>Your jobs</h2>
    ${jobs.length ? `<table id="jobs"><thead><tr><th>job</th><th>kind</th><th>state</th><th>progress</th><th>cost</th><th>submitted</th></tr></thead><tbody>${jobs.map(jobRow).join('')}</tbody></table>` : '<p class="note">No jobs yet: submit one.</p>'}`;
}

async function newJob() {
  const { workloads } = await api.workloads();
  const market = await api.market();
  view().innerHTML = `
    <section class="panel">
      <h2>New job</h2>
      <label>Workload <select id="kind">${workloads.map((w) => `<option>${esc(w.kind)}</option>`).join('')}</select></label>
      <p class="note" id="kind-note"></p>
      <label id="upload-choice"><input type="radio" name="source" value="upload" checked /> Your inputs: <span id="inputs"></span></label>
      <label><input type="radio" name="source" value="example" /> An example: <select id="example" aria-label="example spec"></select></label>
      <label>Bid (credits per GFLOP) <input id="bid" type="number" min="0.000001" step="any" value="${market.price}" /> <span class="note">market price now ${credits(market.price)}</span></label>
      <label>Name <input id="job-name" maxlength="100" placeholder="optional: how the job shows in your lists" /></label>
      <label>Webhook <input id="job-webhook" type="url" placeholder="optional: https://… is POSTed the job when it ends" /></label>
      <label>Verification <select id="verification"><option value="">the workload's default</option><option value="check">check each result (one execution)</option><option value="replicate">agreeing replicas</option></select></label>
      <p id="estimate" aria-live="polite">Choose the inputs to see the estimate.</p>
      <button id="submit" class="primary" type="button" disabled>Submit</button>
      <p id="submit-error" class="error" role="alert"></p>
    </section>`;
  // The inputs part is the workload's own (workloads/<kind>/portal.ts); a kind without one runs its examples.
  let form: InputsForm | null = null;
  const pickKind = () => {
    const kind = $<HTMLSelectElement>('kind').value;
    const w = workloads.find((w) => w.kind === kind)!;
    $('kind-note').textContent = w.description;
    $('example').innerHTML = w.examples.map((e, i) => `<option value="${i}">${esc(JSON.stringify(e))}</option>`).join('');
    const portal = portals[kind];
    $('upload-choice').hidden = !portal;
    form = portal ? portal.inputs($('inputs'), host, () => ((document.querySelector('input[value=upload]') as HTMLInputElement).checked = true, void estimate())) : null;
    if (!portal) (document.querySelector('input[value=example]') as HTMLInputElement).checked = true;
  };
  /** The job the form describes now, or why there is none yet. */
  const body = () => {
    const kind = $<HTMLSelectElement>('kind').value;
    const source = (document.querySelector('input[name=source]:checked') as HTMLInputElement).value;
    const made = source === 'upload' && form ? form.spec() : { spec: workloads.find((w) => w.kind === kind)!.examples[Number($<HTMLSelectElement>('example').value)] as Record<string, unknown> };
    if ('why' in made) return made;
    const verification = ($<HTMLSelectElement>('verification').value || undefined) as 'check' | 'replicate' | undefined;
    const name = $<HTMLInputElement>('job-name').value.trim() || undefined;
    const webhook = $<HTMLInputElement>('job-webhook').value.trim() || undefined;
    return { job: { kind, spec: made.spec, bid: Number($<HTMLInputElement>('bid').value) || undefined, verification, name, webhook } };
  };
  let asked = 0;
  const estimate = async () => {
    const b = body();
    const n = ++asked;
    // The button stays as it was while a new estimate is on its way: a click on Submit blurs the
    // field just typed in, whose change asks for one, and a button disabled meanwhile would drop
    // that click. A spec the server then refuses says why under the button.
    if ('why' in b) {
      $<HTMLButtonElement>('submit').disabled = true;
      return void ($('estimate').textContent = b.why);
    }
    $('estimate').textContent = 'Estimating…';
    try {
      const e = await api.estimateJob(b.job);
      // A newer estimate was asked for, or the page is another by now (Submit went to the job's page).
      if (n !== asked || !document.getElementById('estimate')) return;
      form?.refused?.(null);
      const short = e.escrow > e.available;
      $('estimate').innerHTML = `<strong>${e.units}</strong> units, ${(e.estimate.flops / 1e9).toFixed(2)} GFLOP (${e.verification}): estimate <strong id="estimate-credits">${credits(e.estimate.credits)}</strong> credits at ${credits(e.bid)} per GFLOP; ${credits(e.escrow)} held while it runs, the rest returns. ${short ? `<span class="error">That is more than the ${credits(e.available)} credits you have: lower the bid or the size, or earn credits by contributing (<a href="/">Contribute</a>).</span>` : ''}`;
      $<HTMLButtonElement>('submit').disabled = short;
    } catch (err) {
      if (n !== asked || !document.getElementById('estimate')) return;
      $('estimate').innerHTML = `<span class="error">${esc(reason(err))}</span>`;
      // The form shows where, when the coordinator says (a compiler's line and column).
      if (err instanceof SupernetError) form?.refused?.({ message: err.message, ...(err.details ? { details: err.details } : {}) });
    }
  };
  pickKind();
  for (const id of ['kind', 'example', 'bid', 'verification']) $(id).addEventListener('change', () => (id === 'kind' && pickKind(), void estimate()));
  for (const radio of document.querySelectorAll('input[name=source]')) radio.addEventListener('change', () => void estimate());
  $('submit').addEventListener('click', async () => {
    const b = body();
    if ('why' in b) return;
    try {
      const job = await api.submitJob(b.job);
      location.hash = `#/job/${job.id}`;
    } catch (err) {
      $('submit-error').textContent = reason(err);
    }
  });
}

/** How telling the job's webhook went, in words. */
function webhookState(d: NonNullable<Job['webhook']>['delivery']): string {
  if (!d) return 'told when the job ends';
  const last = d.lastError ? ` (last try: ${d.lastError})` : '';
  if (d.state === 'delivered') return `told (${d.event}, HTTP ${d.lastStatus}, ${d.attempts} ${d.attempts === 1 ? 'try' : 'tries'})`;
  if (d.state === 'failed') return `not told after ${d.attempts} ${d.attempts === 1 ? 'try' : 'tries'}${last}`;
  return `${d.attempts ? `tried ${d.attempts} ${d.attempts === 1 ? 'time' : 'times'}${last}; again at ${new Date(d.nextAt!).toLocaleTimeString()}` : 'being sent'}`;
}

async function jobPage(id: string) {
  view().innerHTML = `
    <section class="panel">
      <h2 id="job-title">Job <code>${esc(id)}</code></h2>
      <p><strong id="job-state">…</strong> · <span id="job-progress-text"></span></p>
      <p id="job-activity" class="note" aria-live="polite"></p>
      <div class="progress"><div id="job-progress" style="width:0%"></div></div>
      <div id="live"></div>
      <div id="grid" class="grid" role="img" aria-label="units by state"></div>
      <p class="legend note"><span style="background:#d0d5e2"></span>pending <span style="background:#f59e0b"></span>running <span style="background:#16a34a"></span>verified <span style="background:#dc2626"></span>failed</p>
      <dl class="facts" id="facts"></dl>
      <p id="job-error" class="error"></p>
      <p><button id="cancel" type="button">Cancel the job</button></p>
      <div id="result" hidden>
        <h3>Result</h3>
        <p><a id="download" href="/api/jobs/${id}/result">Download the result</a></p>
        <div id="result-view"></div>
      </div>
    </section>`;
  $('cancel').addEventListener('click', async () => {
    try {
      await api.cancelJob(id);
    } catch (err) {
      $('job-error').textContent = reason(err);
    }
  });
  let shown = false;
  const show = async (job: Job) => {
    $('job-state').textContent = job.state;
    if (job.name) $('job-title').innerHTML = `${esc(job.name)} <code>${esc(id.slice(0, 8))}</code>${job.tags.map((t) => ` <span class="tag">${esc(t)}</span>`).join('')}`;
    // What is happening on it, or why nothing is, and what to do.
    const a = job.activity;
    $('job-activity').innerHTML = !a
      ? ''
      : a.waiting
        ? `<span id="job-waiting">Waiting: ${esc(a.waiting)}</span>`
        : `${a.nodesWorking} node${a.nodesWorking === 1 ? '' : 's'} working${a.unitsPerMinute ? ` · ${a.unitsPerMinute} units a minute` : ''}${a.etaSeconds !== null ? ` · about ${duration(a.etaSeconds)} left` : ''}`;
    $('job-progress').style.width = `${(100 * job.progress.verified) / Math.max(1, job.progress.units)}%`;
    $('job-progress-text').textContent = `${job.progress.round !== undefined ? `round ${Math.min(job.progress.round + 1, Number(job.live?.rounds ?? 0) || Infinity)} of ${job.live?.rounds ?? '?'} · ` : ''}${job.progress.verified} of ${job.progress.units} units verified`;
    $('cancel').hidden = !['queued', 'running'].includes(job.state);
    if (job.error) $('job-error').textContent = job.error;
    const units = await api.jobUnits(id);
    if (!document.getElementById('grid')) return; // the page is another by now
    const grid = $('grid');
    grid.style.gridTemplateColumns = `repeat(${Math.min(units.grid.cols, 64)}, 1fr)`;
    grid.style.maxWidth = `${Math.min(640, Math.min(units.grid.cols, 64) * 28)}px`;
    grid.innerHTML = units.units.map((state) => `<span class="${state}"></span>`).join('');
    // The job as its workload draws it while it runs (render: the picture so far).
    portals[job.kind]?.progress?.($('live'), { id, state: job.state, spec: job.spec as Record<string, unknown>, grid: units.grid, units: units.units, verified: job.progress.verified, live: job.live ?? null }, host);
    const v = units.verification;
    $('facts').innerHTML = `
      <dt>cost so far</dt><dd id="cost">${credits(job.cost.credits)} credits (escrowed ${credits(job.cost.escrowed)}, pending ${credits(job.cost.pending)}, returned ${credits(job.cost.refunded)})</dd>
      <dt>bid</dt><dd>${credits(job.bid)} credits per GFLOP · estimate ${credits(job.estimate.credits)}</dd>
      <dt>verification</dt><dd id="verification-facts">${v.method}: ${v.executions} executions for ${job.progress.units} units, ${v.valid} valid, ${v.invalid} wrong results caught, ${v.expired} leases lapsed, ${v.failed} failed</dd>
      ${job.webhook ? `<dt>webhook</dt><dd id="webhook-facts"><code>${esc(job.webhook.url)}</code>: ${esc(webhookState(job.webhook.delivery))}</dd>` : ''}`;
    if (job.state === 'done' && !shown) {
      shown = true;
      $('result').hidden = false;
      // The result as its workload shows it (workloads/<kind>/portal.ts); a download in any case.
      const portal = portals[job.kind];
      const download = $<HTMLAnchorElement>('download');
      download.download = `result-${id}.${portal?.result.extension ?? 'bin'}`;
      download.textContent = `Download the result (${portal?.result.description ?? 'bytes'})`;
      if (portal) portal.show($('result-view'), await api.jobResult(id), host);
    }
  };
  await show(await api.getJob(id));
  // Live: server-sent progress events (the session cookie goes along, same origin).
  const events = new EventSource(`/api/jobs/${id}/events`);
  events.addEventListener('progress', (e) => void show(JSON.parse((e as MessageEvent).data) as Job));
  events.onerror = () => {
    // the job ended (the stream closes) or the network blinked: EventSource retries by itself
  };
  leave = () => events.close();
}

/** Every [data-copy] button copies its element's text, and says so. */
function copyButtons() {
  for (const button of view().querySelectorAll<HTMLButtonElement>('[data-copy]')) {
    button.onclick = async () => {
      await navigator.clipboard.writeText($(button.dataset.copy!).textContent ?? '');
      button.textContent = 'Copied';
      setTimeout(() => (button.textContent = 'Copy'), 1500);
    };
  }
}

async function keysPage() {
  const { keys } = await api.listKeys();
  view().innerHTML = `
    <section class="panel">
      <h2>API keys</h2>
      <p>Programs, the CLI and headless agents sign in with a key: <code>Authorization: Bearer sn_…</code>.</p>
      <form id="new-key"><label>Name <input id="key-name" placeholder="laptop, CI, render farm…" required maxlength="100" /></label> <button type="submit">Create a key</button></form>
      <div id="secret-box" hidden>
        <p>Copy this secret now — it is shown once: <code id="secret" class="secret"></code> <button id="copy-secret" type="button" data-copy="secret">Copy</button></p>
        <p>Next steps with it:</p>
        <pre id="next-steps" class="next"></pre> <button type="button" data-copy="next-steps">Copy</button>
      </div>
      <div class="scroll"><table id="keys"><thead><tr><th>name</th><th>key</th><th>created</th><th>last used</th><th></th></tr></thead><tbody>
      ${keys.map((k) => `<tr><td>${esc(k.name)}</td><td><code>${esc(k.prefix)}…</code></td><td>${new Date(k.createdAt).toLocaleString()}</td><td>${k.lastUsedAt ? new Date(k.lastUsedAt).toLocaleString() : 'never'}</td><td><button data-revoke="${k.id}" type="button">Revoke</button></td></tr>`).join('') || '<tr><td colspan="5" class="note">No keys yet.</td></tr>'}
      </tbody></table></div>
    </section>`;
  $('new-key').addEventListener('submit', async (e) => {
    e.preventDefault();
    const key = await api.createKey($<HTMLInputElement>('key-name').value);
    await keysPage();
    $('secret-box').hidden = false;
    $('secret').textContent = key.secret;
    $('next-steps').textContent = [
      `export SUPERNET_URL=${location.origin} SUPERNET_KEY=${key.secret}`,
      'npx supernet balance                       # the CLI signs in with it',
      'npx supernet agent                         # this machine\'s GPU earns credits for your account',
      'npx supernet submit render --scene cornell --width 256 --height 256 --spp 16 --wait --out image.png',
      `curl -H "authorization: Bearer ${key.secret}" ${location.origin}/api/me`,
    ].join('\n');
    copyButtons();
  });
  for (const button of view().querySelectorAll<HTMLButtonElement>('[data-revoke]')) {
    button.addEventListener('click', async () => {
      await api.revokeKey(button.dataset.revoke!);
      await keysPage();
    });
  }
}

async function creditsPage() {
  const [me, { entries }, usage] = await Promise.all([api.me(), api.history(), api.usage({ days: 30 })]);
  view().innerHTML = `
    <section class="panel">
      <h2>Credits</h2>
      <p>Available <strong>${credits(me.balance)}</strong> · coming in ${credits(me.wallet.pendingIn)} · held for jobs ${credits(me.wallet.pendingOut)} · earned ${credits(me.wallet.earned)}</p>
      <p class="note">${esc(creditMeaning)}</p>
      <h3>The last 30 days</h3>
      <div class="chart"><svg id="usage-chart" viewBox="0 0 600 160" role="img" aria-label="credits spent and earned a day, the last 30 days"></svg></div>
      <p class="legend note"><span class="spent"></span>spent by your jobs <span class="earned"></span>earned by your nodes</p>
      <p class="note" id="usage-totals"></p>
      <form id="send"><label>To <input id="to" placeholder="recipient email or account id" required /></label> <label>Credits <input id="amount" type="number" min="0.000001" step="any" required /></label> <button type="submit">Send</button></form>
      <p id="send-result" role="status"></p>
      <div class="scroll"><table id="history"><thead><tr><th>when</th><th>what</th><th>credits</th><th>not settled yet</th></tr></thead><tbody>
      ${entries.map((e) => `<tr class="${e.kind}"><td>${new Date(e.at).toLocaleString()}</td><td>${e.jobId && e.kind === 'spent' ? `<a href="#/job/${e.jobId}">${esc(e.title)}</a>` : esc(e.title)}${e.units ? ` <span class="note">${e.units} unit${e.units === 1 ? '' : 's'}</span>` : ''}</td><td class="amount">${e.amount >= 0 ? '+' : '−'}${credits(Math.abs(e.amount))}</td><td>${e.pending ? credits(e.pending) : ''}</td></tr>`).join('') || '<tr><td colspan="4" class="note">Nothing yet.</td></tr>'}
      </tbody></table></div>
      <p class="note">Every ledger row, signed and chained: <a href="/api/ledger/transfers">/api/ledger/transfers</a>.</p>
    </section>`;
  const days = usage.days;
  drawPairedBars($('usage-chart') as unknown as SVGSVGElement, days.map((d) => ({ label: d.day, a: d.spent, b: d.earned })), { a: 'credits spent', b: 'credits earned', format: credits });
  const total = (f: (d: (typeof days)[number]) => number) => days.reduce((sum, d) => sum + f(d), 0);
  $('usage-totals').textContent = `in 30 days: ${total((d) => d.jobs)} job${total((d) => d.jobs) === 1 ? "" : "s"}, ${credits(total((d) => d.spent))} credits spent; ${total((d) => d.unitsVerified)} units verified, ${credits(total((d) => d.earned))} credits earned`;
  $('send').addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const done = await api.transfer({ to: $<HTMLInputElement>('to').value, amount: Number($<HTMLInputElement>('amount').value), idempotencyKey: crypto.randomUUID() });
      $('send-result').textContent = `Sent ${credits(done.transfer.amount)} credits.`;
      setTimeout(() => void creditsPage(), 800);
    } catch (err) {
      $('send-result').textContent = reason(err);
    }
  });
}

async function sitesPage() {
  const { sites } = await api.listSites();
  view().innerHTML = `
    <section class="panel">
      <h2>Sites (the widget)</h2>
      <p>Let visitors of your site lend their GPU, with their consent, and earn credits for you: register the site, then paste its tag into your pages.</p>
      <form id="new-site">
        <label>Name <input id="site-name" placeholder="my blog" required maxlength="100" /></label>
        <label>Allowed origins <input id="site-origins" placeholder="https://example.com https://www.example.com" required size="40" /></label>
        <label>GPU share at most <input id="site-throttle" type="number" min="10" max="100" step="10" value="50" />%</label>
        <button type="submit">Register</button>
      </form>
      <p id="site-error" class="error" role="alert"></p>
      <div id="site-next" hidden><p>Registered. Paste this tag into your pages where the widget should be: <button type="button" data-copy="site-embed">Copy</button></p><pre id="site-embed" class="next"></pre></div>
      <div class="scroll"><table id="sites"><thead><tr><th>site</th><th>origins</th><th>share</th><th>earned</th><th>embed</th><th></th></tr></thead><tbody>
      ${sites.map((x) => `<tr><td>${esc(x.name)}<br /><code>${esc(x.key)}</code></td><td>${x.origins.map(esc).join('<br />')}</td><td>${Math.round(x.throttle * 100)}%</td><td>${credits(x.earned)} (${x.nodes} nodes)</td><td><code class="embed" id="embed-${x.id}">${esc(x.embed)}</code> <button type="button" data-copy="embed-${x.id}">Copy</button></td><td><button data-remove="${x.id}" type="button">Remove</button></td></tr>`).join('') || '<tr><td colspan="6" class="note">No sites yet.</td></tr>'}
      </tbody></table></div>
      <p class="note">Or, as an element: <code>&lt;script src="${esc(location.origin)}/widget.js" async&gt;&lt;/script&gt;&lt;supernet-widget site="KEY"&gt;&lt;/supernet-widget&gt;</code>. The widget never starts before a visitor's click, stops when the tab is hidden, and uses at most the lower of your share and the visitor's.</p>
    </section>`;
  $('new-site').addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const site = await api.createSite({ name: $<HTMLInputElement>('site-name').value, origins: $<HTMLInputElement>('site-origins').value.split(/[\s,]+/).filter(Boolean), throttle: Number($<HTMLInputElement>('site-throttle').value) / 100 });
      await sitesPage();
      $('site-next').hidden = false;
      $('site-embed').textContent = site.embed;
    } catch (err) {
      $('site-error').textContent = reason(err);
    }
  });
  copyButtons();
  for (const button of view().querySelectorAll<HTMLButtonElement>('[data-remove]')) {
    button.addEventListener('click', async () => {
      await api.deleteSite(button.dataset.remove!);
      await sitesPage();
    });
  }
}

void boot();
