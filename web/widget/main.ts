// The widget's iframe, on the coordinator's origin so our code and storage stay apart from the
// host page. It runs only after a click here (never on a message from the host), earns for the
// site's owner with a token of its own, tells the host page what happens by postMessage to its
// exact origin, and refuses to run where the site does not allow it (the server also sends
// `Content-Security-Policy: frame-ancestors` with the site's origins).
import { Supernet } from '../../server/api/client.ts';
import { formatCredits } from '../../server/ledger/format.ts';
import { BrowserNode } from '../node/browser-node.ts';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const siteKey = new URLSearchParams(location.search).get('site') ?? '';
const api = new Supernet();
/** The page that embeds us: Chromium names it in ancestorOrigins, others in the referrer. */
const embedder = location.ancestorOrigins?.[0] ?? (document.referrer ? new URL(document.referrer).origin : '');

/** localStorage, or memory where a cross-site frame is denied storage (then choices last the visit). */
const memory = new Map<string, string>();
const store = {
  get: (k: string): string | null => {
    try {
      return localStorage.getItem(k);
    } catch {
      return memory.get(k) ?? null;
    }
  },
  set: (k: string, v: string) => {
    try {
      localStorage.setItem(k, v);
    } catch {
      memory.set(k, v);
    }
  },
};

type WidgetEvent = 'ready' | 'started' | 'stopped' | 'progress' | 'refused' | 'resize';
function tell(type: WidgetEvent, detail: Record<string, unknown> = {}) {
  if (!embedder || window.parent === window) return;
  window.parent.postMessage({ source: 'supernet-widget', type, site: siteKey, ...detail }, embedder); // never '*'
}
const refuse = (why: string) => {
  $('status').textContent = why;
  $('status').className = 'refused';
  $<HTMLButtonElement>('toggle').disabled = true;
  tell('refused', { reason: why });
};

// Messages from the host page can ask, never act: only a click in here starts work.
window.addEventListener('message', (e) => {
  if (e.origin !== embedder || e.source !== window.parent) return;
  if ((e.data as { type?: string })?.type === 'status') tell('progress', figures());
});

let node: BrowserNode | null = null;
let units = 0;
let credits = 0;
/** Credits as the ledger counts them: whole µcr (a sum of two amounts had float noise, 0.00023799999999999998). */
const figures = () => ({ units, credits: Math.round(credits * 1e6) / 1e6, running: node?.snapshot.state === 'working' });

// The loader sizes the iframe to what it shows, so no control is ever cut off.
let height = 0;
new ResizeObserver(() => {
  const now = Math.ceil(document.documentElement.getBoundingClientRect().height);
  if (now !== height) tell('resize', { height: (height = now) });
}).observe(document.documentElement);

async function main() {
  const config = await api.widgetConfig(siteKey).catch(() => null);
  if (!config) return refuse('This widget is not set up: its site key is unknown.');
  $('site-name').textContent = config.name;
  if (!config.origins.includes(embedder)) return refuse(`This widget may not run on ${embedder || 'this page'}.`);
  const { token } = await api.widgetSession({ site: siteKey, origin: embedder });
  const asWidget = new Supernet({ key: token }); // the iframe's own token: no cookie in a cross-site frame
  const remembered = `supernet.widget.${siteKey}`;
  // The slider runs up to what the site allows: its knob and its label say the same share.
  const slider = $<HTMLInputElement>('throttle');
  const siteMax = Math.round(config.throttle * 100);
  slider.max = String(siteMax);
  slider.value = String(Math.min(siteMax, Number(store.get(`${remembered}.throttle`) ?? siteMax)));
  const share = () => Number(slider.value) / 100;
  const showShare = () => ($('throttle-value').textContent = `${slider.value}%${siteMax < 100 ? ` (this site allows up to ${siteMax}%)` : ''}`);
  showShare();
  const background = store.get(`${remembered}.background`) === 'true';
  $<HTMLInputElement>('background').checked = background;
  node = new BrowserNode({ account: `site:${siteKey}`, key: token, throttle: share(), allowBackground: background });
  $('background').addEventListener('change', (e) => {
    const allow = (e.target as HTMLInputElement).checked;
    store.set(`${remembered}.background`, String(allow));
    node!.setAllowBackground(allow);
  });
  const toggle = $<HTMLButtonElement>('toggle');
  const render = () => {
    const s = node!.snapshot;
    const working = s.state === 'working' || s.state === 'calibrating';
    toggle.textContent = working ? 'Stop' : 'Start';
    toggle.setAttribute('aria-pressed', String(working));
    $('figures').textContent = units ? `${units} unit${units === 1 ? '' : 's'} · ${formatCredits(figures().credits)} credits for ${config.name}` : '';
    if (s.state !== 'idle') $('status').textContent = s.message;
  };
  node.addEventListener('change', render);
  node.addEventListener('change', () => {
    const s = node!.snapshot;
    if (s.session.unitsDone !== units) {
      units = s.session.unitsDone;
      void refreshCredits();
    }
  });
  async function refreshCredits() {
    const own = await node!.credentials();
    if (!own) return;
    const figs = await asWidget.nodeFigures(own.nodeId).catch(() => null);
    credits = figs ? figs.credits.earned + figs.credits.pending : credits;
    tell('progress', figures());
    render();
  }
  let wasWorking = false;
  node.addEventListener('change', () => {
    const working = node!.snapshot.state === 'working';
    if (working !== wasWorking) tell(working ? 'started' : 'stopped', figures());
    wasWorking = working;
  });
  toggle.addEventListener('click', () => {
    if (node!.snapshot.state === 'working') {
      node!.pause();
      store.set(remembered, 'stopped');
    } else {
      store.set(remembered, 'started');
      void node!.start();
    }
  });
  $('throttle').addEventListener('input', () => {
    store.set(`${remembered}.throttle`, $<HTMLInputElement>('throttle').value);
    showShare();
    void node!.setThrottle(share());
  });
  toggle.disabled = false;
  render();
  tell('ready', { name: config.name });
  void node.deliverKept();
  // The visitor's choice on this site is remembered: one who clicked Start before goes on.
  if (store.get(remembered) === 'started') void node.start();
}

void main().catch((err) => refuse(`The widget could not start: ${(err as Error).message}`));
