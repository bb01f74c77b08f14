import { afterEach, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { TestClient } from '../helpers/client.ts';
import { eventually, testCoordinator } from '../helpers/coordinator.ts';
import { RawNode } from '../helpers/raw-node.ts';

/**
 * The coordinator's half of peer-to-peer blobs (#18): nodes say what they hold (`have`), and a
 * lease names, for each input, connected nodes that hold it — never the node itself, never one
 * gone, none with SUPERNET_P2P=0. Blob bytes served over HTTP are counted in /metrics.
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
    const { nodeId } = await n.hello();
    return Object.assign(n, { nodeId });
  }
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
});
