import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from '@playwright/test';
import { build } from 'vite';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumWebGpuArgs } from '../../bench/chromium.ts';
import type { Coordinator } from '../../server/coordinator.ts';
import { peerKey, peerPath } from '../../server/nodes/peers.ts';
import { TestClient } from '../helpers/client.ts';
import { eventually, repoRoot, testCoordinator } from '../helpers/coordinator.ts';
import { RawNode } from '../helpers/raw-node.ts';

/**
 * The signalling half of peer-to-peer blobs (#18): the coordinator's PeerJS server lets two
 * connected nodes open a WebRTC data channel to each other (PeerJS in Chromium), and refuses a
 * peer that is not a node connected now with its own token.
 */
describe('peer signalling on the coordinator', () => {
  let coordinator: Coordinator;
  let browser: Browser;
  let bundle: string;
  const nodes: RawNode[] = [];

  beforeAll(async () => {
    coordinator = await testCoordinator('pglite');
    // PeerJS as a page would bundle it, with helpers the test drives.
    const dir = mkdtempSync(join(tmpdir(), 'supernet-peerjs-'));
    writeFileSync(
      join(dir, 'entry.js'),
      `import { Peer } from 'peerjs';
import { requestBlob, serveBlobs } from ${JSON.stringify(join(repoRoot, 'server/agent/p2p.ts'))};
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
window.openPeer = (id, token) => new Promise((resolve, reject) => {
  const peer = new Peer(id, options(token));
  peer.on('open', () => { window.peer = peer; resolve(peer.id); });
  peer.on('error', (err) => reject(new Error(err.type)));
  peer.on('connection', (conn) => {
    if (window.mode === 'sink') conn.on('data', (data) => window.received.push(new Uint8Array(data)));
  });
  peer.on('connection', (conn) => conn.on('open', () => {
    if (window.mode === 'sink') return;
    if (window.mode === 'vanish') {
      // Says 1 MiB, sends one chunk, and is gone.
      return conn.dataChannel.addEventListener('message', () => {
        const head = new Uint8Array(5); head[0] = 2; new DataView(head.buffer).setUint32(1, 1 << 20);
        conn.dataChannel.send(head);
        const chunk = new Uint8Array(1 + 65536); chunk[0] = 3;
        conn.dataChannel.send(chunk);
        setTimeout(() => conn.close(), 50);
      });
    }
    serveBlobs(conn.dataChannel, async (sha) => {
      const bytes = window.blobs.get(sha);
      if (!bytes || window.mode !== 'liar') return bytes;
      const lie = bytes.slice();
      lie[lie.length >> 1] ^= 1;
      return lie;
    });
  }));
});
window.sendTo = (to, size) => new Promise((resolve, reject) => {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 2654435761) >>> 24;
  const conn = window.peer.connect(to, { serialization: 'raw', reliable: true });
  conn.on('open', () => { conn.send(bytes); resolve(true); });
  conn.on('error', (err) => reject(new Error(String(err))));
});
window.fetchFrom = (to, sha) => new Promise((resolve) => {
  const conn = window.peer.connect(to, { serialization: 'raw', reliable: true });
  conn.on('open', () => {
    const started = performance.now();
    requestBlob(conn.dataChannel, sha, { idleMs: 3000 }).then(
      async (bytes) => { resolve({ bytes: bytes.byteLength, sha: hex(await crypto.subtle.digest('SHA-256', bytes)), ms: performance.now() - started }); conn.close(); },
      (err) => { resolve({ error: err.kind }); conn.close(); },
    );
  });
});
`,
    );
    await build({ root: repoRoot, configFile: false, logLevel: 'warn', resolve: { alias: { peerjs: join(repoRoot, 'node_modules/peerjs') } }, build: { outDir: join(dir, 'out'), lib: { entry: join(dir, 'entry.js'), formats: ['es'], fileName: 'peers' }, emptyOutDir: true } });
    bundle = readFileSync(join(dir, 'out', 'peers.js'), 'utf8');
    // Host candidates as plain loopback addresses, not mDNS names no resolver here answers.
    browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', args: [...chromiumWebGpuArgs, '--disable-features=WebRtcHideLocalIpsWithMdns'] });
  }, 120_000);
  afterAll(async () => {
    for (const n of nodes) n.close();
    await browser?.close();
    await coordinator?.close();
  });

  async function node(email: string) {
    const owner = await TestClient.signup(coordinator.url, email);
    const n = await RawNode.connect(coordinator.url, await owner.useNewKey());
    nodes.push(n);
    const { nodeId, token } = await n.hello();
    return { n, nodeId, token };
  }
  async function page(): Promise<Page> {
    const p = await (await browser.newContext()).newPage();
    await p.goto(`${coordinator.url}/api/health`);
    await p.addScriptTag({ content: bundle, type: 'module' });
    await p.waitForFunction(() => 'openPeer' in window);
    return p;
  }
  const open = (p: Page, id: string, token: string) => p.evaluate(([i, t]) => (window as any).openPeer(i, t).then((id: string) => ({ id }), (err: Error) => ({ error: err.message })), [id, token] as const);

  it('connects two connected nodes over a data channel, and the bytes arrive whole', async () => {
    const [a, b] = [await node('peer-a@example.com'), await node('peer-b@example.com')];
    const [pa, pb] = [await page(), await page()];
    expect(await open(pa, a.nodeId, a.token)).toEqual({ id: a.nodeId }); // a sink: it keeps what comes
    expect(await open(pb, b.nodeId, b.token)).toEqual({ id: b.nodeId });
    const size = 64 * 1024;
    await pb.evaluate(([to, n]) => (window as any).sendTo(to, n), [a.nodeId, size] as const);
    await pa.waitForFunction((n) => (window as any).received.reduce((sum: number, c: Uint8Array) => sum + c.byteLength, 0) >= n, size, { timeout: 30_000 });
    const got = Buffer.from(await pa.evaluate(() => Array.from((window as any).received.flatMap((c: Uint8Array) => Array.from(c))) as number[]));
    const sent = Buffer.from(Array.from({ length: size }, (_, i) => Math.imul(i, 2654435761) >>> 24));
    expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(sent).digest('hex'));
  }, 90_000);

  it('moves a blob over the channel whole; a peer that lies or vanishes mid-transfer is caught, and said which', async () => {
    const [holder, taker] = [await node('holder@example.com'), await node('taker@example.com')];
    const [ph, pt] = [await page(), await page()];
    await open(ph, holder.nodeId, holder.token);
    await open(pt, taker.nodeId, taker.token);
    const size = 4 * 1024 * 1024 + 123; // not a whole number of chunks
    const sha = await ph.evaluate((n) => (window as any).put(n), size);
    await ph.evaluate(() => ((window as any).mode = 'holder'));
    const whole = await pt.evaluate(([to, s]) => (window as any).fetchFrom(to, s), [holder.nodeId, sha] as const);
    expect(whole).toMatchObject({ bytes: size, sha });
    console.log(`[figures] p2p 4 MiB in ${whole.ms.toFixed(0)} ms: ${(size / 1e6 / (whole.ms / 1000)).toFixed(1)} MB/s (one run, loopback, two contexts of one Chromium)`);
    // A blob it does not hold: none.
    expect(await pt.evaluate(([to]) => (window as any).fetchFrom(to, 'ab'.repeat(32)), [holder.nodeId] as const)).toEqual({ error: 'none' });
    // A liar: one bit flipped in the middle, caught by the hash.
    await ph.evaluate(() => ((window as any).mode = 'liar'));
    expect(await pt.evaluate(([to, s]) => (window as any).fetchFrom(to, s), [holder.nodeId, sha] as const)).toEqual({ error: 'bad-bytes' });
    // One that promises 1 MiB, sends 64 KiB and goes.
    await ph.evaluate(() => ((window as any).mode = 'vanish'));
    expect(await pt.evaluate(([to, s]) => (window as any).fetchFrom(to, s), [holder.nodeId, sha] as const)).toEqual({ error: 'gone' });
  }, 90_000);

  it("refuses a peer that is not a connected node with its own token: a made-up id, another node's id, a node gone", async () => {
    const c = await node('peer-c@example.com');
    const d = await node('peer-d@example.com');
    const p = await page();
    expect(await open(p, '00000000-0000-4000-8000-000000000000', 'snn_madeup')).toHaveProperty('error');
    expect(await open(p, c.nodeId, d.token)).toHaveProperty('error');
    // A node gone: its token opens nothing any more (the coordinator marks it gone as its socket closes).
    d.n.close();
    const refused = await eventually(async () => {
      const status = await new Promise<number>((resolve) => {
        const ws = new WebSocket(`${coordinator.url.replace('http', 'ws')}${peerPath}/peerjs?key=${peerKey}&id=${d.nodeId}&token=${d.token}`);
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => (ws.close(), resolve(101)));
        ws.on('error', () => resolve(0));
      });
      return status === 401 ? status : null;
    }, 'the gone node to be refused', 10_000, 50);
    expect(refused).toBe(401);
  });
});
