import { sql } from 'kysely';
import { createHash } from 'node:crypto';
import type { Browser, Page } from '@playwright/test';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { peerKey, peerPath } from '../../server/nodes/peers.ts';
import { TestClient } from '../helpers/client.ts';
import { eventually, spawnCli, stopChild, testCoordinator } from '../helpers/coordinator.ts';
import { expectClose, randomSpecReference } from '../helpers/matrices.ts';
import { parseNpy } from '../../shaders/npy.ts';
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
    expect(await pt.evaluate(([to]) => (window as any).fetchFrom(to, 'ab'.repeat(32)), [holder.nodeId] as const)).toMatchObject({ error: 'none' });
    // A channel its holder serves twice (PeerJS now and then says a connection opened twice): answered once, whole.
    await ph.evaluate(() => ((window as any).mode = 'twice'));
    expect(await pt.evaluate(([to, s]) => (window as any).fetchFrom(to, s), [holder.nodeId, sha] as const)).toMatchObject({ bytes: size, sha });
    // A liar: one bit flipped in the middle, caught by the hash.
    await ph.evaluate(() => ((window as any).mode = 'liar'));
    expect(await pt.evaluate(([to, s]) => (window as any).fetchFrom(to, s), [holder.nodeId, sha] as const)).toMatchObject({ error: 'bad-bytes' });
    // One that promises 1 MiB, sends 64 KiB and goes.
    await ph.evaluate(() => ((window as any).mode = 'vanish'));
    expect(await pt.evaluate(([to, s]) => (window as any).fetchFrom(to, s), [holder.nodeId, sha] as const)).toMatchObject({ error: 'gone' });
  }, 90_000);

  it("a node's PeerLink stripes a blob over its lanes to one peer, whole; a liar's is caught and the next holder serves it", async () => {
    const [liar, honest, taker] = [await node('lane-liar@example.com'), await node('lane-honest@example.com'), await node('lane-taker@example.com')];
    const [pl, ph, pt] = [await page(), await page(), await page()];
    await open(pl, liar.nodeId, liar.token);
    await open(ph, honest.nodeId, honest.token);
    expect(await pt.evaluate(([id, token]) => (window as any).openLink(id, token), [taker.nodeId, taker.token] as const)).toBe(taker.nodeId);
    const size = 5 * 1024 * 1024 + 77; // the first lane's 1 MiB, then four ranges, the last one short
    const sha = await ph.evaluate((n) => (window as any).put(n), size);
    await pl.evaluate((n) => (window as any).put(n), size);
    await ph.evaluate(() => ((window as any).mode = 'holder'));
    await pl.evaluate(() => ((window as any).mode = 'liar'));
    const got = await pt.evaluate(async ([l, h, s]) => {
      const link = (window as any).link;
      const result = await link.fetch(s, [l, h]);
      const hex = (b: ArrayBuffer) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
      return { sha: result.bytes && hex(await crypto.subtle.digest('SHA-256', result.bytes)), failures: result.failures };
    }, [liar.nodeId, honest.nodeId, sha] as const);
    expect(got).toEqual({ sha, failures: [{ nodeId: liar.nodeId, kind: 'bad-bytes' }] });
    // Four lanes to the honest holder carried it, each its own connection.
    expect(await ph.evaluate(() => Object.values((window as any).peer.connections).flat().length)).toBe(4);
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

  it('an agent (WebRTC in Node) takes its inputs from a peer that holds them; from one that lies it falls back to the coordinator and reports it', async () => {
    // A coordinator of its own: heartbeats each second (a third of the lease time) carry the agent's byte counts.
    const local = await testCoordinator('pglite', { SUPERNET_LEASE_TTL_MS: '3000' });
    const agents: ReturnType<typeof spawnCli>[] = [];
    try {
      const dev = await TestClient.signup(local.url, 'p2p-agent-dev@example.com');
      await dev.useNewKey();
      const owner = await TestClient.signup(local.url, 'p2p-holder@example.com');
      const holder = await RawNode.connect(local.url, await owner.useNewKey());
      const { nodeId, token } = await holder.hello();
      const ph = await openPeerPage(browser, local.url, bundle);
      expect(await open(ph, nodeId, token)).toEqual({ id: nodeId });
      await ph.evaluate(() => ((window as any).mode = 'holder'));
      const metric = async (name: string) => Number((await (await fetch(`${local.url}/metrics`)).text()).match(new RegExp(`^${name} (\\S+)$`, 'm'))?.[1] ?? 0);
      /** A job whose panels the holder page has fetched and said it holds: the lease names it for each. */
      const heldJob = async (seed: number) => {
        const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 256, k: 256, n: 256, seed }, tile: 128 } }, 201);
        const units = await local.deps.db.selectFrom('units').select('inputs').where('job_id', '=', job.id).execute();
        const panels = [...new Set(units.flatMap((u) => u.inputs as string[]))];
        for (const sha of panels) await ph.evaluate(([url, s]) => (window as any).hold(url, s), [`${local.url}/api/blobs/${sha}`, sha] as const);
        holder.send({ type: 'have', blobs: panels });
        await eventually(async () => panels.every((sha) => local.hub.holders.pick(sha, null as never, 3).length === 1), 'the holder to be named');
        return { job, panelBytes: panels.length * 128 * 256 * 4 };
      };
      const volunteer = await TestClient.signup(local.url, 'p2p-agent@example.com');
      const agentKey = await volunteer.useNewKey('agent');
      // Summed over the agent's runs (a restarted agent is a new node).
      const agentBytes = () =>
        local.deps.db
          .selectFrom('nodes')
          .select([sql<number>`sum(bytes_from_peers)::float8`.as('bytes_from_peers'), sql<number>`sum(bytes_from_coordinator)::float8`.as('bytes_from_coordinator')])
          .where('name', '=', 'p2p-agent')
          .executeTakeFirst();

      // Honest: every panel from the peer, none from the coordinator (its egress stands still).
      const first = await heldJob(31);
      const egress = await metric('supernet_blob_egress_bytes_total');
      agents.push(spawnCli(['agent', '--url', local.url, '--key', agentKey, '--name', 'p2p-agent']));
      expect((await dev.waitForJob(first.job.id, 180_000)).state).toBe('done');
      const product = parseNpy(new Uint8Array(await (await dev.call('GET', `/api/jobs/${first.job.id}/result`)).arrayBuffer()));
      expectClose(product, randomSpecReference(256, 256, 256, 31), 256);
      const taken = await eventually(async () => {
        const row = await agentBytes();
        return row && row.bytes_from_peers >= first.panelBytes ? row : null;
      }, 'the agent to say what it took from peers', 30_000);
      expect(taken.bytes_from_coordinator).toBe(0);
      expect(await metric('supernet_blob_egress_bytes_total')).toBe(egress);

      // A liar: each of its answers is caught by the hash, reported, and fetched over HTTP instead.
      // (The agent restarts, so that the liar says it holds the panels before the agent is leased them.)
      await stopChild(agents[0]!);
      await ph.evaluate(() => ((window as any).mode = 'liar'));
      const second = await heldJob(32);
      agents.push(spawnCli(['agent', '--url', local.url, '--key', agentKey, '--name', 'p2p-agent']));
      expect((await dev.waitForJob(second.job.id, 180_000)).state).toBe('done');
      expectClose(parseNpy(new Uint8Array(await (await dev.call('GET', `/api/jobs/${second.job.id}/result`)).arrayBuffer())), randomSpecReference(256, 256, 256, 32), 256);
      expect(await metric('supernet_peer_reports_total{reason="bad-bytes"}')).toBeGreaterThanOrEqual(1);
      await eventually(async () => ((await agentBytes())?.bytes_from_coordinator ?? 0) > 0, 'the agent to say it fell back to the coordinator', 30_000);
      expect(await metric('supernet_blob_egress_bytes_total')).toBeGreaterThan(egress);
      expect(agents[1]!.output.join('')).toMatch(/served bad bytes for [0-9a-f]{12}…: reported, fetched from the coordinator/);
      holder.close();
    } catch (err) {
      console.log(`the agent said:\n${agents.at(-1)?.output.join('')}`);
      throw err;
    } finally {
      for (const agent of agents) await stopChild(agent);
      await local.close();
    }
  }, 300_000);
});
