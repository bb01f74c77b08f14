import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from '@playwright/test';
import { build } from 'vite';
import { chromiumWebGpuArgs } from '../../bench/chromium.ts';
import { peerKey, peerPath } from '../../server/nodes/peers.ts';
import { repoRoot } from './coordinator.ts';

/**
 * Pages that act as peers, for tests/e2e/peers.test.ts and bench/p2p.ts: PeerJS and our blob
 * transfer (server/agent/p2p.ts) bundled by vite, with window functions to drive them. A page
 * is a `sink` (keeps what comes), a `holder` (serves its blobs: made up by `put`, or fetched by
 * `hold`), a `liar` (flips a bit), one that
 * `vanish`es mid-transfer, a holder whose channel is served `twice`, or `peerjs` (answers "want:<sha>" with PeerJS's own send and
 * serialization, for the bench's comparison). `openLink`/`fetchLink` drive a node's own PeerLink
 * (server/agent/peer-link.ts: lanes to each peer) instead of a bare Peer.
 */
const entry = `import { Peer } from 'peerjs';
import { requestBlob, serveBlobs } from ${JSON.stringify(join(repoRoot, 'server/agent/p2p.ts'))};
import { PeerLink } from ${JSON.stringify(join(repoRoot, 'server/agent/peer-link.ts'))};
const options = (token) => ({ host: location.hostname, port: Number(location.port), path: ${JSON.stringify(peerPath)}, key: ${JSON.stringify(peerKey)}, token, secure: false, debug: 0 });
window.received = [];
window.blobs = new Map();
window.mode = 'sink';
const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
window.put = async (size) => {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 2654435761) >>> 24;
  const sha = hex(await crypto.subtle.digest('SHA-256', bytes));
  window.blobs.set(sha, bytes);
  return sha;
};
window.hold = async (url, sha) => window.blobs.set(sha, new Uint8Array(await (await fetch(url)).arrayBuffer()));
window.openPeer = (id, token) => new Promise((resolve, reject) => {
  const peer = new Peer(id, options(token));
  peer.on('open', () => { window.peer = peer; resolve(peer.id); });
  peer.on('error', (err) => reject(new Error(err.type)));
  peer.on('connection', (conn) => {
    if (window.mode === 'sink') conn.on('data', (data) => window.received.push(new Uint8Array(data)));
    if (window.mode === 'peerjs') conn.on('data', (data) => { if (typeof data === 'string' && data.startsWith('want:')) conn.send(window.blobs.get(data.slice(5))); });
  });
  const opened = new WeakSet(); // PeerJS now and then says a connection opened twice: answered once
  peer.on('connection', (conn) => conn.on('open', () => {
    if (window.mode === 'sink' || window.mode === 'peerjs' || opened.has(conn)) return;
    opened.add(conn);
    if (window.mode === 'vanish') {
      // Says 1 MiB, sends one chunk, and is gone.
      return conn.dataChannel.addEventListener('message', () => {
        const head = new Uint8Array(5); head[0] = 2; new DataView(head.buffer).setUint32(1, 1 << 20);
        conn.dataChannel.send(head);
        const chunk = new Uint8Array(1 + 65536); chunk[0] = 3;
        conn.dataChannel.send(chunk);
        setTimeout(() => conn.close(), 50);
      }, { once: true }); // it answers one want, then it is gone
    }
    const serve = () => serveBlobs(conn.dataChannel, async (sha) => {
      const bytes = window.blobs.get(sha);
      if (!bytes || window.mode !== 'liar') return bytes;
      const lie = bytes.slice();
      lie[lie.length >> 1] ^= 1;
      return lie;
    });
    serve();
    if (window.mode === 'twice') serve(); // as a second 'open' would
  }));
});
window.openLink = async (id, token) => {
  window.link = new PeerLink({ Peer, url: location.origin, get: async (sha) => window.blobs.get(sha), allowed: () => true });
  await window.link.connect({ path: ${JSON.stringify(peerPath)}, key: ${JSON.stringify(peerKey)}, iceServers: [] }, id, token);
  return id;
};
window.fetchLink = async (to, sha) => {
  const started = performance.now();
  const got = await window.link.fetch(sha, [to]);
  const ms = performance.now() - started; // the link's own check of the hash is in; this page's below is not
  if (!got.bytes) return { error: got.failures.map((f) => f.kind).join(',') };
  return { bytes: got.bytes.byteLength, sha: hex(await crypto.subtle.digest('SHA-256', got.bytes)), ms };
};
window.sendTo = (to, size) => new Promise((resolve, reject) => {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 2654435761) >>> 24;
  const conn = window.peer.connect(to, { serialization: 'raw', reliable: true });
  conn.on('open', () => { conn.send(bytes); resolve(true); });
  conn.on('error', (err) => reject(new Error(String(err))));
});
window.fetchDefault = (to, sha) => new Promise((resolve) => {
  const conn = window.peer.connect(to);
  conn.on('open', () => {
    const started = performance.now();
    conn.on('data', async (data) => {
      const ms = performance.now() - started;
      const bytes = new Uint8Array(data);
      resolve({ bytes: bytes.byteLength, sha: hex(await crypto.subtle.digest('SHA-256', bytes)), ms });
      conn.close();
    });
    conn.send('want:' + sha);
  });
});
window.fetchFrom = (to, sha) => new Promise((resolve) => {
  const conn = window.peer.connect(to, { serialization: 'raw', reliable: true });
  conn.on('open', () => {
    const started = performance.now();
    requestBlob(conn.dataChannel, sha, { idleMs: 3000 }).then(
      async (bytes) => { const ms = performance.now() - started; resolve({ bytes: bytes.byteLength, sha: hex(await crypto.subtle.digest('SHA-256', bytes)), ms }); conn.close(); },
      (err) => { resolve({ error: err.kind, why: err.message }); conn.close(); }, // why: shown when a test's expectation fails
    );
  });
});
`;

export async function buildPeerBundle(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'supernet-peerjs-'));
  writeFileSync(join(dir, 'entry.js'), entry);
  await build({ root: repoRoot, configFile: false, logLevel: 'warn', resolve: { alias: { peerjs: join(repoRoot, 'node_modules/peerjs') } }, build: { outDir: join(dir, 'out'), lib: { entry: join(dir, 'entry.js'), formats: ['es'], fileName: 'peers' }, emptyOutDir: true } });
  return readFileSync(join(dir, 'out', 'peers.js'), 'utf8');
}

/** Chromium with host candidates as plain loopback addresses (see chromiumWebGpuArgs). */
export const launchPeerChromium = (): Promise<Browser> => chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', args: chromiumWebGpuArgs });

/** A page of its own context on the coordinator's origin, with the bundle loaded. */
export async function openPeerPage(browser: Browser, url: string, bundle: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${url}/api/health`);
  await page.addScriptTag({ content: bundle, type: 'module' });
  await page.waitForFunction(() => 'openPeer' in window);
  return page;
}

/** Registers the page as peer `id` with the node's token: its id, or why it was refused. */
export const openPeer = (page: Page, id: string, token: string): Promise<{ id?: string; error?: string }> =>
  page.evaluate(([i, t]) => (window as any).openPeer(i, t).then((id: string) => ({ id }), (err: Error) => ({ error: err.message })), [id, token] as const);
