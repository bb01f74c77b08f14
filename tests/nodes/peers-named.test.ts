import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { TestClient } from '../helpers/client.ts';
import { eventually, testCoordinator } from '../helpers/coordinator.ts';
import { RawNode } from '../helpers/raw-node.ts';

/**
 * The coordinator's half of peer-to-peer blobs (#18): nodes say what they hold (`have`), and a
 * lease names, for each input, connected nodes that hold it — never the node itself, never one
 * gone, none with SUPERNET_P2P=0. Blob bytes served over HTTP are counted in /metrics. A peer
 * reported for lacking a blob is named no more for it; one that two accounts report for bad bytes
 * is named for nothing, for good. What nodes say they moved is summed per node and for the network.
 */
describe('leases name peers that hold their inputs', () => {
  let coordinator: Coordinator;
  const nodes: RawNode[] = [];
  afterEach(async () => {
    for (const n of nodes.splice(0)) n.close();
    await coordinator?.close();
  });

  async function setUp(env: Record<string, string> = {}) {
    coordinator = await testCoordinator('pglite', env);
    const dev = await TestClient.signup(coordinator.url, 'p2p-dev@example.com');
    await dev.useNewKey();
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 128, k: 32, n: 128, seed: 3 }, tile: 32 } }, 201);
    const units = await coordinator.deps.db.selectFrom('units').select('inputs').where('job_id', '=', job.id).execute();
    const panels = [...new Set(units.flatMap((u) => u.inputs as string[]))];
    return { panels };
  }
  async function node(email: string) {
    const owner = await TestClient.signup(coordinator.url, email);
    const n = await RawNode.connect(coordinator.url, await owner.useNewKey());
    nodes.push(n);
    const { nodeId, token } = await n.hello();
    return Object.assign(n, { nodeId, token, owner });
  }
  /** Frames of one socket are handled in order: once this answers, what was sent before it is done. */
  const settled = async (n: RawNode) => {
    n.send({ type: 'fail', attemptId: randomUUID(), token: 'none', reason: 'a round trip' });
    expect((await n.next('ack')).status).toBe('refused');
  };
  const holdersOf = (sha: string) => coordinator.hub.holders.pick(sha, null as never, 10).length;
  const metric = async (name: string) => Number((await (await fetch(`${coordinator.url}/metrics`)).text()).match(new RegExp(`^${name} (\\S+)$`, 'm'))?.[1] ?? NaN);

  it('names holders for each input, not the node itself, and no node gone; a bad have frame changes nothing', async () => {
    const { panels } = await setUp();
    expect(panels.length).toBe(8); // 4 row panels of A, 4 column panels of B
    const holder = await node('p2p-holder@example.com');
    holder.send({ type: 'have', blobs: panels });
    // The holder is never named to itself (and its lease comes after its have, on one socket).
    expect((await holder.lease()).peers).toBeUndefined();
    const taker = await node('p2p-taker@example.com');
    const lease = await taker.lease();
    expect(Object.keys(lease.peers ?? {}).sort()).toEqual([...lease.unit.inputs].sort());
    for (const sha of lease.unit.inputs) expect(lease.peers![sha]).toEqual([holder.nodeId]);
    // A frame that is not a list of sha-256s: an error, and the holders stay as they were.
    taker.send({ type: 'have', blobs: ['not-a-sha'] } as never);
    expect((await taker.next('error')).message).toMatch(/blobs/);
    // Dropped from its cache, or gone: named no more.
    holder.send({ type: 'have', blobs: [], dropped: [panels[0]!] });
    holder.close();
    await eventually(async () => coordinator.hub.conns.size === 1, 'the holder to be gone', 10_000, 20);
    const late = await node('p2p-late@example.com');
    expect((await late.lease()).peers).toBeUndefined();
  });

  it('names none with SUPERNET_P2P=0, and counts the blob bytes it serves over HTTP', async () => {
    const { panels } = await setUp({ SUPERNET_P2P: '0' });
    const holder = await node('p2p-off-holder@example.com');
    holder.send({ type: 'have', blobs: panels });
    await holder.lease(); // after its have, on one socket
    const taker = await node('p2p-off-taker@example.com');
    expect((await taker.lease()).peers).toBeUndefined();
    const before = await metric('supernet_blob_egress_bytes_total');
    const bytes = (await (await fetch(`${coordinator.url}/api/blobs/${panels[0]}`)).arrayBuffer()).byteLength;
    expect(bytes).toBeGreaterThan(32 * 32 * 4);
    expect(await metric('supernet_blob_egress_bytes_total')).toBe(before + bytes);
  });

  it('welcomes a node with where the peer signalling is, or without it when P2P is off', async () => {
    await setUp();
    const n = await RawNode.connect(coordinator.url);
    nodes.push(n);
    expect((await n.hello()).peers).toEqual({ path: '/api/peers', key: 'supernet', iceServers: [] });
    await coordinator.close();
    coordinator = await testCoordinator('pglite', { SUPERNET_P2P: '0' });
    const off = await RawNode.connect(coordinator.url);
    nodes.push(off);
    expect((await off.hello()).peers).toBeUndefined();
  });

  it('a peer reported lacking a blob is named no more for it; bad bytes reported by two accounts bar it for good', async () => {
    const { panels } = await setUp();
    const holder = await node('liar-holder@example.com');
    holder.send({ type: 'have', blobs: panels });
    await settled(holder);
    const [first, second] = [await node('reporter-1@example.com'), await node('reporter-2@example.com')];
    const faults = async () => (await coordinator.deps.db.selectFrom('nodes').select('peer_faults').where('id', '=', holder.nodeId).executeTakeFirstOrThrow()).peer_faults;
    const report = async (from: typeof first, sha: string, reason: 'none' | 'bad-bytes', about = holder.nodeId) => {
      from.send({ type: 'peer-report', nodeId: about, sha, reason });
      await settled(from);
    };

    await report(first, panels[0]!, 'none');
    expect([holdersOf(panels[0]!), holdersOf(panels[1]!)]).toEqual([0, 1]);
    expect(await faults()).toBe(0);
    await report(first, panels[1]!, 'bad-bytes');
    expect([holdersOf(panels[1]!), await faults()]).toEqual([0, 1]);
    // The same account again is not a second witness; a report about a blob the peer was never
    // named for, or about oneself, changes nothing.
    await report(first, panels[2]!, 'bad-bytes');
    expect([holdersOf(panels[2]!), await faults()]).toEqual([0, 1]);
    await report(second, panels[1]!, 'bad-bytes');
    await report(holder, panels[3]!, 'bad-bytes');
    expect([holdersOf(panels[3]!), await faults()]).toEqual([1, 1]);
    // A second account: named for nothing, and what it says it holds from now on is not heard.
    await report(second, panels[3]!, 'bad-bytes');
    expect(await faults()).toBe(2);
    expect(panels.map(holdersOf)).toEqual(panels.map(() => 0));
    holder.send({ type: 'have', blobs: panels });
    await settled(holder);
    expect(panels.map(holdersOf)).toEqual(panels.map(() => 0));
    // Also after it reconnects as the same node.
    holder.close();
    const again = await RawNode.connect(coordinator.url, await holder.owner.useNewKey());
    nodes.push(again);
    await again.hello({ resume: { nodeId: holder.nodeId, token: holder.token } });
    again.send({ type: 'have', blobs: panels });
    await settled(again);
    expect(panels.map(holdersOf)).toEqual(panels.map(() => 0));
    const metric = (reason: string) => (async () => Number((await (await fetch(`${coordinator.url}/metrics`)).text()).match(new RegExp(`^supernet_peer_reports_total\\{reason="${reason}"\\} (\\S+)$`, 'm'))?.[1] ?? NaN))();
    expect([await metric('none'), await metric('bad-bytes')]).toEqual([1, 3]);
  });

  it('counts a serving node as holding its lease\'s inputs from the lease on; one that says it serves no one (paused) is named for nothing', async () => {
    const { panels } = await setUp();
    const first = await node('serving-first@example.com');
    first.send({ type: 'have', blobs: [] }); // it serves, and holds nothing yet
    const lease = await first.lease();
    // Named at once for what it was leased: it serves those once its own download ends.
    expect(lease.unit.inputs.map(holdersOf)).toEqual([1, 1]);
    const second = await node('serving-second@example.com');
    const next = await second.lease();
    for (const sha of next.unit.inputs.filter((sha) => lease.unit.inputs.includes(sha))) expect(next.peers?.[sha]).toEqual([first.nodeId]);
    // Paused: named for nothing, and its next leases add nothing, until it says have again.
    first.send({ type: 'have', blobs: [], serving: false });
    await settled(first);
    expect(panels.map(holdersOf)).toEqual(panels.map(() => 0));
    await first.lease();
    expect(panels.map(holdersOf)).toEqual(panels.map(() => 0));
  });

  it("sums the blob bytes nodes say they moved, per node and for the network", async () => {
    await setUp();
    const [a, b] = [await node('mover-a@example.com'), await node('mover-b@example.com')];
    a.send({ type: 'heartbeat', attempts: [], blobBytes: { fromPeers: 3_000_000, fromCoordinator: 1_000_000, toPeers: 0 } });
    a.send({ type: 'heartbeat', attempts: [], blobBytes: { fromPeers: 1_000_000, fromCoordinator: 0, toPeers: 500 } });
    b.send({ type: 'heartbeat', attempts: [], blobBytes: { fromPeers: 0, fromCoordinator: 2_000_000, toPeers: 4_000_000 } });
    // A count no one could have moved is a bad frame, and adds nothing.
    b.send({ type: 'heartbeat', attempts: [], blobBytes: { fromPeers: -1, fromCoordinator: 0, toPeers: 0 } });
    expect((await b.next('error')).code).toBe('bad_frame');
    await settled(a);
    const figures = await a.owner.json('GET', `/api/nodes/${a.nodeId}`, undefined, 200);
    expect(figures.blobs).toEqual({ fromPeers: 4_000_000, fromCoordinator: 1_000_000, toPeers: 500 });
    const stats = await (await fetch(`${coordinator.url}/api/stats`)).json();
    expect(stats.blobs).toEqual({ fromPeers: 4_000_000, fromCoordinator: 3_000_000, toPeers: 4_000_500 });
  });
});
