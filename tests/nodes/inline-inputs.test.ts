import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { NodeRuntime, sha256Hex } from '../../server/agent/runtime.ts';
import type { Coordinator } from '../../server/coordinator.ts';
import { inlineInputBytesMax } from '../../server/protocol/messages.ts';
import { trustedStreakMin } from '../../server/verify/reputation.ts';
import { encodeNpy, parseNpy } from '../../shaders/npy.ts';
import { matmulReference } from '../../workloads/matmul/reference.ts';
import { TestClient } from '../helpers/client.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { expectClose, randomSpecReference } from '../helpers/matrices.ts';
import { RawNode } from '../helpers/raw-node.ts';

/**
 * Small inputs travel inside their lease frames (server/nodes/hub.ts, #inlineFor), each once to
 * a connection; a node checks their hashes and fetches any input whose bytes do not match.
 */
describe('inputs inside lease frames', () => {
  let coordinator: Coordinator;
  const nodes: RawNode[] = [];
  const runtimes: NodeRuntime[] = [];
  const realFetch = globalThis.fetch;
  afterEach(async () => {
    globalThis.fetch = realFetch;
    runtimes.splice(0).forEach((r) => r.stop());
    nodes.splice(0).forEach((n) => n.close());
    await coordinator?.close();
  });

  async function developer() {
    const dev = await TestClient.signup(coordinator.url, 'dev-inline@example.com');
    await dev.useNewKey();
    return dev;
  }

  it('sends a lease its small inputs once to a connection, and no input over the bound', async () => {
    coordinator = await testCoordinator('pglite');
    const dev = await developer();
    // A strip of 8×8 tiles: every unit shares the one panel of A, and has a panel of B of its own.
    await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 8, k: 8, n: 32, seed: 2 }, tile: 8 }, verification: 'check' }, 201);
    const node = await RawNode.connect(coordinator.url, await (await TestClient.signup(coordinator.url, 'inline-node@example.com')).useNewKey());
    nodes.push(node);
    await node.hello();
    await coordinator.deps.db.updateTable('nodes').set({ streak: trustedStreakMin }).execute(); // no known-answer units
    const first = await node.lease();
    const second = await node.lease();
    const [a, b1] = first.unit.inputs;
    const b2 = second.unit.inputs[1]!;
    expect(second.unit.inputs[0]).toBe(a);
    expect(Object.keys(first.inline ?? {}).sort()).toEqual([a, b1].sort());
    expect(Object.keys(second.inline ?? {})).toEqual([b2]); // A's panel was sent already
    for (const [sha, data] of Object.entries({ ...first.inline, ...second.inline })) {
      const bytes = Buffer.from(data, 'base64');
      expect(await sha256Hex(bytes)).toBe(sha);
      expect(bytes).toEqual(Buffer.from(await (await fetch(`${coordinator.url}/api/blobs/${sha}`)).arrayBuffer()));
    }
    // Panels over the bound (64×64 floats, 16 KB) are fetched as before.
    await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 64, k: 64, n: 64, seed: 3 }, tile: 64 }, verification: 'check', bid: 10 }, 201);
    const other = await RawNode.connect(coordinator.url, await (await TestClient.signup(coordinator.url, 'inline-other@example.com')).useNewKey());
    nodes.push(other);
    await other.hello();
    await coordinator.deps.db.updateTable('nodes').set({ streak: trustedStreakMin }).execute();
    other.send({ type: 'request', slots: 2 });
    const leases = [await other.next('lease'), await other.next('lease')];
    const big = leases.find((l) => l.unit.flops >= 64 * 64 * 64);
    expect(big, 'a lease of the 64×64×64 job').toBeDefined();
    expect(big!.inline).toBeUndefined();
    expect(coordinator.deps.blobs.peek(big!.unit.inputs[0]!)!.byteLength).toBeGreaterThan(inlineInputBytesMax);
  });

  it('a node runs from inputs sent inline without fetching them, and fetches any whose bytes do not match their hash', async () => {
    coordinator = await testCoordinator('pglite');
    const dev = await developer();
    const blobGets: string[] = [];
    globalThis.fetch = ((input: string | URL | Request, init?: RequestInit) => {
      const url = String(input instanceof Request ? input.url : input);
      if (url.includes('/api/blobs/') && (init?.method ?? 'GET') === 'GET') blobGets.push(url);
      return realFetch(input, init);
    }) as typeof fetch;
    const key = await (await TestClient.signup(coordinator.url, 'inline-runtime@example.com')).useNewKey();
    const run = async (name: string, seed: number) => {
      const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 16, k: 8, n: 48, seed }, tile: 8 }, verification: 'check' }, 201);
      const runtime = new NodeRuntime({
        url: coordinator.url,
        key,
        name,
        slots: 2,
        capabilities: { adapter: { vendor: 'test', architecture: 'cpu', device: 'reference', description: 'CPU reference' }, features: [], gflops: 1, kinds: ['matmul'] },
        connect: (wsUrl, headers) => new WebSocket(wsUrl, { headers }) as unknown as globalThis.WebSocket,
        execute: async (_unit, [a, b]) => encodeNpy(matmulReference(parseNpy(a!), parseNpy(b!))),
      });
      runtimes.push(runtime);
      void runtime.start();
      expect(await dev.waitForJob(job.id)).toMatchObject({ state: 'done' });
      runtime.stop();
      const result = parseNpy(new Uint8Array(await (await dev.call('GET', `/api/jobs/${job.id}/result`)).arrayBuffer()));
      expectClose(result, randomSpecReference(16, 8, 48, seed), 8);
    };
    await run('honest', 4);
    expect(blobGets).toEqual([]);
    // The coordinator's bytes for the panels are damaged (as a corrupted cache would be): the
    // frames carry them under the right hashes, and the node must not compute on them.
    const blobs = coordinator.deps.blobs;
    const peek = blobs.peek.bind(blobs);
    blobs.peek = (sha) => {
      const bytes = peek(sha);
      return bytes && bytes.map((x, i) => (i === bytes.length - 1 ? x ^ 0xff : x));
    };
    await run('damaged', 5);
    expect(blobGets.length).toBeGreaterThanOrEqual(8); // the job's 2 + 6 panels, fetched
  });
});
