import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { TestClient } from '../helpers/client.ts';
import { eventually, runCli, testCoordinator } from '../helpers/coordinator.ts';
import { RawNode } from '../helpers/raw-node.ts';
import { storeKinds } from '../helpers/stores.ts';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A developer's endpoint: answers with the statuses given in turn (200 after them), and says what came. */
async function receiver(statuses: number[] = []) {
  const received: Received[] = [];
  const waiters: (() => void)[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(statuses.shift() ?? 200).end();
      for (const wake of waiters.splice(0)) wake();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/supernet`;
  /** Resolves once `n` requests have come (an event, not a sleep). */
  const count = (n: number) => new Promise<void>((resolve) => {
    const check = () => (received.length >= n ? resolve() : waiters.push(check));
    check();
  });
  return { url, received, count, close: () => new Promise((r) => server.close(r)) };
}

/** The Standard Webhooks check, written from the spec as a developer would, not with our code. */
function verify(secret: string, r: Received): boolean {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key).update(`${r.headers['webhook-id']}.${r.headers['webhook-timestamp']}.${r.body}`).digest('base64');
  return String(r.headers['webhook-signature']).split(' ').includes(`v1,${expected}`);
}

/**
 * A webhook when a job ends (#21: what developer portals such as Replicate's offer): signed,
 * sent once it ends however it ends, tried again when the endpoint fails, and never aimed at the
 * coordinator's own network unless the operator allows it.
 */
describe.each(storeKinds)('job webhooks (%s)', (store) => {
  let coordinator: Coordinator;
  const closers: (() => unknown)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    await coordinator?.close();
  });

  async function setUp(env: Record<string, string> = {}) {
    coordinator = await testCoordinator(store, { SUPERNET_WEBHOOK_MS: '50', SUPERNET_WEBHOOK_RETRY_MS: '50', SUPERNET_WEBHOOKS_TO_PRIVATE: '1', ...env });
    const dev = await TestClient.signup(coordinator.url, 'hooked@example.com');
    await dev.useNewKey();
    return dev;
  }

  it('POSTs the finished job to its URL, signed with the account secret, after a failed try; a cancelled job is told too', async () => {
    const dev = await setUp();
    const hook = await receiver([503]);
    closers.push(hook.close);
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 32, k: 16, n: 32, seed: 2 }, tile: 16 }, name: 'hooked', webhook: hook.url }, 201);
    expect((await dev.json('GET', `/api/jobs/${job.id}`)).webhook).toEqual({ url: hook.url, delivery: null });

    const worker = await TestClient.signup(coordinator.url, 'hook-worker@example.com');
    const node = await RawNode.connect(coordinator.url, await worker.useNewKey());
    closers.push(() => node.close());
    await node.hello();
    for (let i = 0; i < 4; i++) {
      const lease = await node.lease();
      await node.submit(lease, await node.compute(lease));
    }
    await hook.count(2); // the 503, then the retry
    const [first, second] = hook.received;
    expect(first!.headers['webhook-id']).toBe(second!.headers['webhook-id']); // one delivery, tried twice
    const secret = (await dev.json('GET', '/api/webhooks/secret')).secret as string;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(verify(secret, second!)).toBe(true);
    expect(verify(secret, { ...second!, body: second!.body.replace('"done"', '"failed"') })).toBe(false);
    const payload = JSON.parse(second!.body);
    expect(payload).toMatchObject({ type: 'job.done', data: { id: job.id, name: 'hooked', state: 'done', result: `/api/jobs/${job.id}/result`, progress: { units: 4, verified: 4 } } });
    const delivery = await eventually(async () => {
      const d = (await dev.json('GET', `/api/jobs/${job.id}`)).webhook.delivery;
      return d?.state === 'delivered' ? d : null;
    }, 'the delivery to be recorded');
    expect(delivery).toMatchObject({ event: 'job.done', attempts: 2, lastStatus: 200, lastError: null });
    // The secret stays the account's; the CLI prints the same.
    expect((await runCli(['webhook-secret', '--url', coordinator.url, '--key', dev.key])).output.trim()).toBe(secret);

    const cancelled = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 16, k: 16, n: 16, seed: 3 }, tile: 16 }, webhook: hook.url }, 201);
    await dev.json('DELETE', `/api/jobs/${cancelled.id}`);
    await hook.count(3);
    expect(JSON.parse(hook.received[2]!.body)).toMatchObject({ type: 'job.cancelled', data: { id: cancelled.id, state: 'cancelled' } });
    expect(verify(secret, hook.received[2]!)).toBe(true);
  });

  it('gives up after six failed tries and says why; refuses a private address unless allowed; refuses a URL that is not http(s)', async () => {
    const dev = await setUp({ SUPERNET_WEBHOOKS_TO_PRIVATE: '0' });
    const bad = await dev.call('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 16, k: 16, n: 16, seed: 1 } }, webhook: 'ftp://example.com/x' });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.message).toBe('webhook: The webhook is an http:// or https:// URL.');
    expect((await dev.json('GET', '/api/jobs')).jobs).toEqual([]);

    const hook = await receiver();
    closers.push(hook.close);
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 16, k: 16, n: 16, seed: 1 } }, webhook: hook.url }, 201);
    await dev.json('DELETE', `/api/jobs/${job.id}`);
    const refused = await eventually(async () => {
      const d = (await dev.json('GET', `/api/jobs/${job.id}`)).webhook.delivery;
      return d?.state === 'failed' ? d : null;
    }, 'the delivery to be refused');
    expect(refused).toMatchObject({ attempts: 1, lastStatus: null, lastError: 'refused: 127.0.0.1 is 127.0.0.1, a loopback or private address; a coordinator on your own network may allow it with SUPERNET_WEBHOOKS_TO_PRIVATE=1' });
    expect(hook.received).toEqual([]);
    await coordinator.close();

    // Allowed, to an endpoint that always fails: six tries, then it stops and says the last answer.
    coordinator = await testCoordinator(store, { SUPERNET_WEBHOOK_MS: '50', SUPERNET_WEBHOOK_RETRY_MS: '10', SUPERNET_WEBHOOKS_TO_PRIVATE: '1' });
    const again = await TestClient.signup(coordinator.url, 'unlucky@example.com');
    await again.useNewKey();
    const broken = await receiver(Array(10).fill(500));
    closers.push(broken.close);
    const doomed = await again.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 16, k: 16, n: 16, seed: 1 } }, webhook: broken.url }, 201);
    await again.json('DELETE', `/api/jobs/${doomed.id}`);
    const failed = await eventually(async () => {
      const d = (await again.json('GET', `/api/jobs/${doomed.id}`)).webhook.delivery;
      return d?.state === 'failed' ? d : null;
    }, 'six failed tries', 60_000);
    expect(failed).toMatchObject({ attempts: 6, lastStatus: 500, lastError: 'HTTP 500', nextAt: null });
    expect(broken.received).toHaveLength(6);
  });
});
