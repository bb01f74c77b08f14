// The contribute page: account, Start/Pause, the throttle, live stats and chart, top contributors.
import { drawLineChart, getJson } from './chart.ts';
import { BrowserNode } from './node/browser-node.ts';
import { creditMeaning, creditsPerHour, formatBytes, formatCredits as credits } from '../server/ledger/format.ts';
import { parseSchedule } from '../server/agent/schedule.ts';

interface Me {
  id: string;
  email: string;
  balance: number;
  wallet: { earned: number };
}
interface NodeStats {
  units: { valid: number };
  /** `since`: earned from this page's first Start on (pays of verified results). */
  credits: { earned: number; pending: number; since: number };
}
interface Leaders {
  contributors: { rank: number; name: string; unitsVerified: number; earned: number; you: boolean }[];
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const settings = { throttle: Number(localStorage.getItem('supernet.throttle') ?? 100), background: localStorage.getItem('supernet.background') === 'true' };

const me = await getJson<Me>('/api/me');
const node = new BrowserNode({ account: me?.id ?? null, throttle: settings.throttle / 100, allowBackground: settings.background });
// A handle for people curious in the console, and for the end-to-end tests.
(window as unknown as { supernet: unknown }).supernet = { node };

// --- account -------------------------------------------------------------------------------
if (me) {
  $('signed-in').hidden = false;
  $('who').textContent = me.email;
  $('balance').textContent = credits(me.balance);
} else {
  $('signin').hidden = false;
}

async function auth(path: string) {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: $<HTMLInputElement>('email').value, password: $<HTMLInputElement>('password').value }),
  });
  if (res.ok) return location.reload(); // the node signs in on its next connection
  const body = await res.json().catch(() => null);
  $('account-error').textContent = body?.error?.message ?? `Failed (HTTP ${res.status}).`;
}
$('signin').addEventListener('submit', (e) => {
  e.preventDefault();
  void auth('/api/auth/login');
});
$('signup-button').addEventListener('click', () => {
  if ($<HTMLFormElement>('signin').reportValidity()) void auth('/api/auth/signup');
});
$('signout').addEventListener('click', async () => {
  await fetch('/api/auth/logout', { method: 'POST' });
  location.reload();
});

// --- control -------------------------------------------------------------------------------
const throttle = $<HTMLInputElement>('throttle');
throttle.value = String(settings.throttle);
$<HTMLInputElement>('background').checked = settings.background;
$('start').addEventListener('click', () => {
  const s = node.snapshot;
  if (s.state === 'working') node.pause();
  else void node.start();
});
throttle.addEventListener('input', () => {
  localStorage.setItem('supernet.throttle', throttle.value);
  void node.setThrottle(Number(throttle.value) / 100);
  render();
});
// The schedule: "only between 22:00 and 07:00", kept in this browser, followed by the node.
const scheduleOn = $<HTMLInputElement>('schedule-on');
const [scheduleFrom, scheduleTo] = [$<HTMLInputElement>('schedule-from'), $<HTMLInputElement>('schedule-to')];
const kept = localStorage.getItem('supernet.schedule');
if (kept) [scheduleOn.checked, scheduleFrom.value, scheduleTo.value] = [true, ...(kept.split('-') as [string, string])];
function applySchedule() {
  const text = `${scheduleFrom.value}-${scheduleTo.value}`;
  let schedule = null;
  try {
    schedule = scheduleOn.checked ? parseSchedule(text) : null;
  } catch (err) {
    $('message').textContent = (err as Error).message;
    return;
  }
  if (schedule) localStorage.setItem('supernet.schedule', text);
  else localStorage.removeItem('supernet.schedule');
  node.setSchedule(schedule);
}
for (const input of [scheduleOn, scheduleFrom, scheduleTo]) input.addEventListener('change', applySchedule);
applySchedule();
$<HTMLInputElement>('background').addEventListener('change', (e) => {
  const allow = (e.target as HTMLInputElement).checked;
  localStorage.setItem('supernet.background', String(allow));
  node.setAllowBackground(allow);
});

// --- figures -------------------------------------------------------------------------------
let nodeStats: NodeStats | null = null;
let busy = 0;
let startedAt: number | null = null;
$('start').addEventListener('click', () => (startedAt ??= Date.now()));

const clock = (ms: number) => {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 3600) ? `${Math.floor(s / 3600)}:` : ''}${String(Math.floor(s / 60) % 60).padStart(s >= 3600 ? 2 : 1, '0')}:${String(s % 60).padStart(2, '0')}`;
};

/** Writes only what changed: each write costs the page a style and layout pass. */
const shown = new Map<string, string>();
function show(id: string, value: string) {
  if (shown.get(id) === value) return;
  shown.set(id, value);
  $(id).textContent = value;
}

let frame = 0;
let chartAt = 0;
function render() {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    const s = node.snapshot;
    show('start', s.state === 'working' ? 'Pause' : s.state === 'calibrating' ? 'Measuring…' : 'Start');
    $('start').toggleAttribute('disabled', s.state === 'calibrating');
    show('throttle-value', `${throttle.value}%`);
    show('message', s.message);
    if ($('message').dataset.state !== s.state) $('message').dataset.state = s.state;
    if (s.adapter) show('adapter', `${s.adapter} (${s.backend === 'cpu' ? 'CPU fallback' : 'WebGPU'}, kernel ${s.kernel})`);
    if (s.gflopsCalibrated) show('calibrated', `· calibrated at ${s.gflopsCalibrated.toFixed(1)} GFLOP/s`);
    show('units', String(s.session.unitsDone));
    const last = s.throughput[s.throughput.length - 1];
    show('gflops-now', (last?.gflops ?? 0).toFixed(1));
    show('time', clock(s.session.contributedMs));
    show('busy', `${Math.round(busy * 100)}%`);
    show('credits-session', credits(nodeStats?.credits.since ?? 0));
    show('pace', creditsPerHour(nodeStats?.credits.since ?? 0, s.session.contributedMs) ?? '');
    show('sharing', sharingLine(s.blobs, s.sharing));
    show('unit-now', s.running ? `Now: ${s.running.what} (${s.running.kind}).` : s.keptResults ? `${s.keptResults} finished result(s) waiting for the coordinator.` : '');
    if (last && last.at !== chartAt) {
      chartAt = last.at;
      drawLineChart($('throughput') as unknown as SVGSVGElement, s.throughput.map((t) => t.gflops), { caption: `last ${s.throughput.length} s`, unit: 'GFLOP/s' });
    }
  });
}
/** Where this tab's inputs came from (#18): other nodes, over WebRTC, spare the coordinator's bandwidth. */
function sharingLine(blobs: { fromPeers: number; fromCoordinator: number; toPeers: number }, sharing: boolean): string {
  const total = blobs.fromPeers + blobs.fromCoordinator;
  if (!total && !blobs.toPeers) return sharing ? 'Sharing inputs with other nodes peer to peer.' : '';
  const share = total ? ` (${Math.round((100 * blobs.fromPeers) / total)}% from peers)` : '';
  return `Inputs: ${formatBytes(blobs.fromPeers)} from other nodes, ${formatBytes(blobs.fromCoordinator)} from the coordinator${share} · ${formatBytes(blobs.toPeers)} served to other nodes${sharing ? '' : ' · peer-to-peer sharing is off'}.`;
}
$('credit-meaning').textContent = creditMeaning;
node.addEventListener('change', render);
render();

/** This node's credits (from the ledger) and the account's, every few seconds. */
async function refreshCredits() {
  const s = node.snapshot;
  const own = s.connected ? await node.credentials() : null;
  if (own && startedAt) {
    const before = nodeStats?.credits.earned;
    nodeStats = await getJson<NodeStats>(`/api/nodes/${own.nodeId}?since=${startedAt}`, { authorization: `Bearer ${own.token}` });
    if (nodeStats && nodeStats.credits.earned !== before) void refreshLeaders();
  }
  if (me) {
    const fresh = await getJson<Me>('/api/me');
    if (fresh) {
      $('credits-total').textContent = credits(fresh.wallet.earned);
      $('balance').textContent = credits(fresh.balance);
    }
  } else $('credits-total').textContent = '0 (anonymous)';
  if (s.state !== 'idle') busy = await node.worker.busyShare(10_000);
  render();
}
setInterval(refreshCredits, 2000);
void refreshCredits();

/** The account's daily history: what its nodes (this tab, its agents) did each of the last 14 days. */
async function refreshDays() {
  const usage = me ? await getJson<{ days: { day: string; unitsVerified: number; earned: number }[] }>('/api/usage?days=14') : null;
  if (!usage) return;
  $('days').hidden = false;
  const rows = usage.days.filter((d) => d.unitsVerified || d.earned).reverse();
  $('days-table').querySelector('tbody')!.innerHTML = rows.length
    ? rows.map((d) => `<tr><td>${d.day}</td><td>${d.unitsVerified}</td><td>${credits(d.earned)}</td></tr>`).join('')
    : '<tr><td colspan="3" class="note">Nothing yet: press Start, and each day you contribute shows here.</td></tr>';
}
setInterval(refreshDays, 15_000); // a read of 14 days of the account's transfers: not every 2 s
void refreshDays();

async function refreshLeaders() {
  const leaders = await getJson<Leaders>('/api/leaderboard?limit=10');
  if (!leaders) return;
  const body = $('leaders').querySelector('tbody')!;
  body.replaceChildren(
    ...leaders.contributors.map((c) => {
      const row = document.createElement('tr');
      if (c.you) row.className = 'you';
      for (const cell of [c.rank, c.you ? `${c.name} (you)` : c.name, c.unitsVerified, credits(c.earned)]) {
        const td = document.createElement('td');
        td.textContent = String(cell);
        row.append(td);
      }
      return row;
    }),
  );
  if (!leaders.contributors.length) body.innerHTML = '<tr><td colspan="4" class="note">No verified work yet: be the first.</td></tr>';
}
setInterval(refreshLeaders, 5000);
void refreshLeaders();

// Results finished before a reload go out now; new work waits for a click.
void node.deliverKept();
