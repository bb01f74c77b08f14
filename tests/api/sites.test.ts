import { afterEach, describe, expect, it } from 'vitest';
import { Supernet } from '../../server/api/client.ts';
import type { Coordinator } from '../../server/coordinator.ts';
import { TestClient } from '../helpers/client.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { RawNode } from '../helpers/raw-node.ts';
import { storeKinds } from '../helpers/stores.ts';

describe.each(storeKinds)('sites and widget tokens (%s)', (store) => {
  let coordinator: Coordinator;
  const nodes: RawNode[] = [];
  afterEach(async () => {
    nodes.splice(0).forEach((n) => n.close());
    await coordinator?.close();
  });

  it('registers a site; its widget token runs a node that earns for the owner and can do nothing else', async () => {
    coordinator = await testCoordinator(store);
    const owner = await TestClient.signup(coordinator.url, 'owner@example.com');
    const api = new Supernet({ url: coordinator.url, key: await owner.useNewKey() });
    const site = await api.createSite({ name: 'Recipes', origins: ['https://recipes.example', 'http://localhost:5173'], throttle: 0.3 });
    expect(site).toMatchObject({ key: expect.stringMatching(/^site_/), throttle: expect.closeTo(0.3, 5), earned: 0, nodes: 0 });
    expect(site.embed).toBe(`<script src="${coordinator.url}/widget.js" data-site="${site.key}" async></script>`);
    await expect(api.createSite({ name: 'x', origins: ['https://recipes.example/path'] })).rejects.toMatchObject({ status: 400 });
    await expect(new Supernet({ url: coordinator.url }).createSite({ name: 'x', origins: ['https://a.example'] })).rejects.toMatchObject({ status: 401 });

    const anyone = new Supernet({ url: coordinator.url });
    expect(await anyone.widgetConfig(site.key)).toEqual({ name: 'Recipes', origins: ['https://recipes.example', 'http://localhost:5173'], throttle: expect.closeTo(0.3, 5) });
    await expect(anyone.widgetSession({ site: site.key, origin: 'https://recipes.example.evil.test' })).rejects.toMatchObject({ status: 403 });
    const { token } = await anyone.widgetSession({ site: site.key, origin: 'https://recipes.example' });
    expect(token).toMatch(/^snw_/);
    // The widget's token is not the owner: no account calls with it.
    const asWidget = new Supernet({ url: coordinator.url, key: token });
    await expect(asWidget.me()).rejects.toMatchObject({ status: 401 });
    await expect(asWidget.submitJob({ kind: 'matmul', spec: { random: { m: 8, k: 8, n: 8, seed: 1 } } })).rejects.toMatchObject({ status: 401 });

    // A node on the widget's token works for the owner's account, and the site counts it.
    const dev = await TestClient.signup(coordinator.url, 'dev-sites@example.com');
    await dev.useNewKey();
    await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 16, k: 24, n: 8, seed: 3 } }, verification: 'check' }, 201);
    const node = await RawNode.connect(coordinator.url, token);
    nodes.push(node);
    expect((await node.hello()).accountId).toBe(owner.accountId);
    const lease = await node.lease();
    expect(await node.submit(lease, await node.compute(lease))).toMatchObject({ status: 'accepted' });
    const [listed] = (await api.listSites()).sites;
    expect(listed).toMatchObject({ id: site.id, nodes: 1, earned: expect.any(Number) });
    expect(listed!.earned).toBeGreaterThan(0);
    expect((await api.me()).wallet.earned).toBe(listed!.earned);

    // A removed site: its widget config and tokens stop working.
    await api.deleteSite(site.id);
    await expect(anyone.widgetConfig(site.key)).rejects.toMatchObject({ status: 404 });
    await expect(RawNode.connect(coordinator.url, token)).rejects.toThrow(/401/);
    await expect(anyone.widgetConfig('site_nope')).rejects.toMatchObject({ status: 404 });
  });
});
