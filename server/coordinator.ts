import { Metrics } from './stats/metrics.ts';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { createApp } from './app.ts';
import { BlobStore } from './blobs/store.ts';
import { DiskBytes, S3Bytes } from './blobs/bytes.ts';
import type { Config } from './config.ts';
import type { Deps } from './context.ts';
import { openStore } from './db/index.ts';
import { lockStore } from './db/lock.ts';
import { checkpoint, loadOrCreateKey } from './ledger/checkpoint.ts';
import { deliverWebhooks } from './jobs/webhooks.ts';
import { tickMarket } from './market/price.ts';
import { NodeHub } from './nodes/hub.ts';
import { PeerSignals, peerPath } from './nodes/peers.ts';
import { Signals } from './nodes/signals.ts';
import { passTurns, takeTurn } from './db/turns.ts';
import { CheckPool } from './verify/check-pool.ts';

export interface Coordinator {
  url: string;
  deps: Deps;
  hub: NodeHub;
  server: Server;
  close(): Promise<void>;
}

/** Opens the store, builds the app and the node hub, and listens. */
export async function startCoordinator(config: Config): Promise<Coordinator> {
  mkdirSync(config.dataDir, { recursive: true });
  const bytes = config.s3 ? new S3Bytes(config.s3) : new DiskBytes(join(config.dataDir, 'blobs'));
  if (bytes instanceof S3Bytes) await bytes.check();
  const unlock = config.databaseUrl ? () => {} : lockStore(config.dataDir);
  const db = await openStore(config).catch((err) => {
    unlock();
    throw err;
  });
  let hub: NodeHub | undefined;
  const metrics = new Metrics(db, () => hub?.conns.size ?? 0, config.leaseTtlMs);
  const signals = new Signals(config.databaseUrl);
  await signals.start();
  const deps: Deps = { db, config, blobs: new BlobStore(config.dataDir, db, config.blobBytesMax, bytes), onWork: () => {}, metrics, signals, checks: new CheckPool(), lifecycle: { draining: false } };
  hub = new NodeHub(deps);
  deps.onWork = () => void hub.workAppeared();
  const key = loadOrCreateKey(config.dataDir);
  // The chores (market ticks, ledger checkpoints, webhooks, maintenance): each on its own
  // chain, so a webhook endpoint that takes its 10 s does not hold up a market tick; a round
  // still running when its next is due skips that one; close awaits every round in hand.
  const rounds = new Set<Promise<unknown>>();
  // With several coordinators on one store, one of them does each (server/db/turns.ts).
  const every = (ms: number, work: () => Promise<unknown>, what: string) => {
    let busy = false;
    return setInterval(() => {
      if (busy) return;
      busy = true;
      const round = (async () => (await takeTurn(db, what, signals.from, 3 * ms)) && (await work()))()
        .catch((err) => console.error(`${what} failed:`, (err as Error).message))
        .finally(() => {
          busy = false;
          rounds.delete(round);
        });
      rounds.add(round);
    }, ms);
  };
  const timers = [
    every(config.marketMs, async () => (await tickMarket(db, 3 * config.leaseTtlMs)) && deps.onWork(), 'market tick'),
    every(config.checkpointMs, () => checkpoint(db, key), 'ledger checkpoint'),
    every(config.webhookMs, () => deliverWebhooks(deps), 'webhooks'),
  ];
  const app = createApp(deps);
  const server = createServer(getRequestListener(app.fetch));
  const peers = new PeerSignals(server, db);
  server.on('upgrade', (req, socket, head) => {
    if (req.url?.startsWith('/api/nodes/ws')) void hub.upgrade(req, socket, head);
    else if (req.url?.startsWith(`${peerPath}/peerjs`)) void peers.upgrade(req, socket, head);
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const host = config.host === '127.0.0.1' || config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    deps,
    hub,
    server,
    /** Graceful, and once: node frames and requests in hand finish (up to 2 s), the ledger's tip is signed, the store closes. */
    close() {
      closing ??= (async () => {
        // No new leases and readiness 503 at once; the results of leases in hand still come in
        // (up to the grace); then the chores end, the sockets close, the store last.
        deps.lifecycle.draining = true;
        await hub.drain(config.shutdownGraceMs);
        for (const t of timers) clearInterval(t);
        await hub.close();
        peers.close();
        await Promise.all(rounds);
        await deps.checks.close();
        const closed = new Promise((resolve) => server.close(resolve));
        server.closeIdleConnections();
        await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2000))]);
        server.closeAllConnections();
        await closed;
        await checkpoint(db, key).catch((err) => console.error('ledger checkpoint failed:', (err as Error).message));
        await passTurns(db, signals.from).catch(() => {}); // the others take the chores at once
        await signals.close();
        await db.destroy();
        unlock();
      })();
      return closing;
    },
  };
}
