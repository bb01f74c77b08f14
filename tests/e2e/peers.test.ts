import { createHash } from 'node:crypto';
import type { Browser, Page } from '@playwright/test';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { peerKey, peerPath } from '../../server/nodes/peers.ts';
import { TestClient } from '../helpers/client.ts';
import { eventually, testCoordinator } from '../helpers/coordinator.ts';
import { RawNode } from '../helpers/raw-node.ts';
import { buildPeerBundle, launchPeerChromium, openPeer, openPeerPage } from '../helpers/peer-pages.ts';

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
    bundle = await buildPeerBundle();
    browser = await launchPeerChromium();
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
  const page = () => openPeerPage(browser, coordinator.url, bundle);
  const open = openPeer;

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
