// npm run bench:p2p (also the last part of `npm run bench`). A blob from one node to another over
// WebRTC data channels on loopback: contexts of Debian's Chromium, signalled by a coordinator's
// PeerJS server (PGlite, in this process). Ours (a node's PeerLink: server/agent/p2p.ts binary
// frames, 64 KiB chunks, paced by bufferedAmount, striped over 4 lanes, the sha-256 checked) against PeerJS's defaults
// (`conn.send(bytes)` with its binary serialization) in the same run, for 4 MiB and 64 MiB
// (BENCH_P2P_SIZES, MiB, comma-separated). Medians of BENCH_P2P_RUNS (default 3) transfers.
// Then the same transfer between two agents' PeerLinks in this process (@roamhq/wrtc,
// server/agent/wrtc.ts). Writes bench/results/p2p.{json,md}.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig } from '../server/config.ts';
import { startCoordinator } from '../server/coordinator.ts';
import { TestClient } from '../tests/helpers/client.ts';
import { buildPeerBundle, launchPeerChromium, openPeer, openPeerPage } from '../tests/helpers/peer-pages.ts';
import { RawNode } from '../tests/helpers/raw-node.ts';
import { PeerLink } from '../server/agent/peer-link.ts';
import { loadPeerJs } from '../server/agent/wrtc.ts';
import type { PeerServer } from '../server/agent/runtime.ts';
import { createHash } from 'node:crypto';
import type { Browser } from '@playwright/test';
import { median } from './timing.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const runs = Math.max(1, Number(process.env.BENCH_P2P_RUNS ?? 3));
const sizes = (process.env.BENCH_P2P_SIZES ?? '4,64').split(',').map((s) => Number(s) * 1024 * 1024);
/** Connections the bare channels use (as many as a PeerLink's lanes). */
const rawLanes = 4;

const coordinator = await startCoordinator(loadConfig({ PORT: '0', SUPERNET_DATA: mkdtempSync(join(tmpdir(), 'supernet-bench-p2p-')) }));
const browser = await launchPeerChromium();
const nodes: RawNode[] = [];
try {
  const bundle = await buildPeerBundle();
  const peer = async (email: string) => {
    const owner = await TestClient.signup(coordinator.url, email);
    const node = await RawNode.connect(coordinator.url, await owner.useNewKey());
    nodes.push(node);
    const { nodeId, token } = await node.hello();
    const page = await openPeerPage(browser, coordinator.url, bundle);
    const opened = await openPeer(page, nodeId, token);
    if (!opened.id) throw new Error(`peer refused: ${opened.error}`);
    return { nodeId, page };
  };
  const [holder, taker] = [await peer('bench-holder@example.com'), await peer('bench-taker@example.com')];
  // A node's own PeerLink (lanes): what browser nodes fetch with.
  const owner = await TestClient.signup(coordinator.url, 'bench-link@example.com');
  const linkNode = await RawNode.connect(coordinator.url, await owner.useNewKey());
  nodes.push(linkNode);
  const linkId = await linkNode.hello();
  const linked = await openPeerPage(browser, coordinator.url, bundle);
  await linked.evaluate(([id, token]) => (window as any).openLink(id, token), [linkId.nodeId, linkId.token] as const);
  const rows: { mib: number; ours: number; peerjs: number | null; ratio: number | null; raw: number; agents: number; agentsPeerjs: number }[] = [];
  const agents = await agentPair();
  const raw = await rawChannels(browser, coordinator.url);
  for (const size of sizes) {
    const sha = await holder.page.evaluate((n) => (window as any).put(n), size);
    const rate = async (mode: 'holder' | 'peerjs', call: 'fetchLink' | 'fetchDefault') => {
      await holder.page.evaluate((m) => ((window as any).mode = m), mode);
      const rates: number[] = [];
      const page = call === 'fetchLink' ? linked : taker.page;
      // The lanes open on the first fetch: one untimed, as PeerJS's connection opens before its timing starts.
      if (call === 'fetchLink') await page.evaluate(([to, s]) => (window as any).fetchLink(to, s), [holder.nodeId, sha] as const);
      for (let i = 0; i < runs; i++) {
        const got = await page.evaluate(([fn, to, s]) => (window as any)[fn](to, s), [call, holder.nodeId, sha] as const);
        if (got.error || got.sha !== sha) throw new Error(`${mode}: ${got.error ?? 'wrong bytes'}`);
        rates.push(size / 1e6 / (got.ms / 1000));
      }
      return median(rates);
    };
    const ours = await rate('holder', 'fetchLink');
    const peerjs = await rate('peerjs', 'fetchDefault').catch((err: Error) => (console.log(`PeerJS defaults at ${size / 2 ** 20} MiB: ${err.message}`), null));
    const ceiling = await raw.rate(size);
    const betweenAgents = await agents.rate(size);
    rows.push({ mib: size / 2 ** 20, ours: +ours.toFixed(1), peerjs: peerjs === null ? null : +peerjs.toFixed(1), ratio: peerjs ? +(ours / peerjs).toFixed(2) : null, raw: +ceiling.toFixed(1), agents: +betweenAgents.ours.toFixed(1), agentsPeerjs: +betweenAgents.peerjs.toFixed(1) });
    console.log(`${size / 2 ** 20} MiB: ours ${ours.toFixed(1)} MB/s, PeerJS defaults ${peerjs?.toFixed(1) ?? '–'} MB/s, bare channels ${ceiling.toFixed(1)} MB/s (Chromium); between agents ours ${betweenAgents.ours.toFixed(1)} MB/s, PeerJS defaults ${betweenAgents.peerjs.toFixed(1)} MB/s`);
  }
  mkdirSync(join(repoRoot, 'bench/results'), { recursive: true });
  writeFileSync(join(repoRoot, 'bench/results/p2p.json'), JSON.stringify({ runs, rows }, null, 2) + '\n');
  writeFileSync(
    join(repoRoot, 'bench/results/p2p.md'),
    `# Peer to peer on loopback (medians of ${runs})\n\nChromium: two contexts of one browser, ${cpus().length} CPU cores. Bare channels: the same bytes over ${rawLanes} RTCPeerConnections between the two contexts with no protocol, no copy and no hash — what this machine's Chromium can move at all. Agents: two PeerLinks in one Node process (@roamhq/wrtc).\n\n| blob | Chromium, ours MB/s | Chromium, PeerJS defaults MB/s | ours ÷ PeerJS | Chromium, bare channels MB/s | ours ÷ bare | agents, ours MB/s | agents, PeerJS defaults MB/s | ours ÷ PeerJS (agents) |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n${rows.map((r) => `| ${r.mib} MiB | ${r.ours} | ${r.peerjs ?? '–'} | ${r.ratio ?? '–'} | ${r.raw} | ${(r.ours / r.raw).toFixed(2)} | ${r.agents} | ${r.agentsPeerjs} | ${(r.agents / r.agentsPeerjs).toFixed(2)} |`).join('\n')}\n`,
  );
  agents.close();
  await raw.close();
} finally {
  for (const n of nodes) n.close();
  await browser.close();
  await coordinator.close();
}
process.exit(0); // the peer package's timers would keep the process alive

/** Two agents' PeerLinks (WebRTC in Node): one holds a blob, the other fetches it through `fetch`, as a runtime does. */
async function agentPair() {
  const Peer = await loadPeerJs();
  const server: PeerServer = { path: '/api/peers', key: 'supernet', iceServers: [] };
  const held = new Map<string, Uint8Array>();
  const link = async (email: string, get: (sha: string) => Promise<Uint8Array | undefined>) => {
    const owner = await TestClient.signup(coordinator.url, email);
    const node = await RawNode.connect(coordinator.url, await owner.useNewKey());
    nodes.push(node);
    const { nodeId, token } = await node.hello();
    const l = new PeerLink({ Peer, url: coordinator.url, get, allowed: () => true });
    await l.connect(server, nodeId, token);
    return { nodeId, link: l };
  };
  const holder = await link('agent-holder@example.com', async (sha) => held.get(sha));
  const taker = await link('agent-taker@example.com', async () => undefined);
  // PeerJS's defaults between agents: bare Peers, the holder answering "want:<sha>" with `conn.send(bytes)`.
  const bare = async (email: string) => {
    const owner = await TestClient.signup(coordinator.url, email);
    const node = await RawNode.connect(coordinator.url, await owner.useNewKey());
    nodes.push(node);
    const { nodeId, token } = await node.hello();
    const url = new URL(coordinator.url);
    const peer = new Peer(nodeId, { host: url.hostname, port: Number(url.port), path: server.path, key: server.key, token, secure: false, debug: 0, config: { iceServers: [] } });
    await new Promise((resolve, reject) => (peer.on('open', resolve), peer.on('error', reject)));
    return { nodeId, peer };
  };
  const [plainHolder, plainTaker] = [await bare('agent-plain-holder@example.com'), await bare('agent-plain-taker@example.com')];
  plainHolder.peer.on('connection', (conn) => conn.on('data', (data) => typeof data === 'string' && data.startsWith('want:') && conn.send(held.get(data.slice(5)))));
  const plainFetch = (sha: string) =>
    new Promise<{ ms: number; bytes: Uint8Array }>((resolve, reject) => {
      const conn = plainTaker.peer.connect(plainHolder.nodeId);
      conn.on('error', reject);
      conn.on('open', () => {
        const started = performance.now();
        conn.on('data', (data) => {
          resolve({ ms: performance.now() - started, bytes: new Uint8Array(data as ArrayBuffer) });
          conn.close();
        });
        conn.send(`want:${sha}`);
      });
    });
  return {
    async rate(size: number) {
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i++) bytes[i] = Math.imul(i, 2654435761) >>> 24;
      const sha = createHash('sha256').update(bytes).digest('hex');
      held.set(sha, bytes);
      await taker.link.fetch(sha, [holder.nodeId]); // the lanes open on the first: untimed
      const rates: number[] = [];
      for (let i = 0; i < runs; i++) {
        const started = performance.now();
        const got = await taker.link.fetch(sha, [holder.nodeId]);
        if (!got.bytes) throw new Error(`agents: ${JSON.stringify(got.failures)}`);
        rates.push(size / 1e6 / ((performance.now() - started) / 1000));
      }
      const plain: number[] = [];
      for (let i = 0; i < runs; i++) {
        const got = await plainFetch(sha);
        if (createHash('sha256').update(got.bytes).digest('hex') !== sha) throw new Error('agents, PeerJS defaults: wrong bytes');
        plain.push(size / 1e6 / (got.ms / 1000));
      }
      held.delete(sha);
      return { ours: median(rates), peerjs: median(plain) };
    },
    close() {
      holder.link.close();
      taker.link.close();
      plainHolder.peer.destroy();
      plainTaker.peer.destroy();
    },
  };
}

/** Bare data channels between two contexts: the ceiling any protocol over them has on this machine. */
async function rawChannels(browser: Browser, url: string) {
  const [sender, receiver] = await Promise.all([0, 1].map(async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${url}/api/health`);
    return page;
  }));
  type Side = Window & { pcs: RTCPeerConnection[]; lanes: RTCDataChannel[]; got: number; want: number; done?: (at: number) => void };
  const init = () => {
    const w = window as unknown as Side;
    w.pcs = [];
    w.lanes = [];
    w.got = 0;
  };
  await sender!.evaluate(init);
  await receiver!.evaluate(init);
  const gathered = (pc: RTCPeerConnection) => new Promise<void>((resolve) => (pc.iceGatheringState === 'complete' ? resolve() : pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve())));
  for (let i = 0; i < rawLanes; i++) {
    const offer = await sender!.evaluate(async (gather) => {
      const w = window as unknown as Side;
      const pc = new RTCPeerConnection();
      w.pcs.push(pc);
      w.lanes.push(pc.createDataChannel('bare'));
      await pc.setLocalDescription(await pc.createOffer());
      await new Function(`return ${gather}`)()(pc);
      return pc.localDescription!.toJSON();
    }, gathered.toString());
    const answer = await receiver!.evaluate(async ([offer, gather]) => {
      const w = window as unknown as Side;
      const pc = new RTCPeerConnection();
      w.pcs.push(pc);
      pc.ondatachannel = ({ channel }) => {
        channel.binaryType = 'arraybuffer';
        channel.onmessage = (e) => (w.got += (e.data as ArrayBuffer).byteLength) >= w.want && w.done?.(Date.now());
      };
      await pc.setRemoteDescription(offer);
      await pc.setLocalDescription(await pc.createAnswer());
      await new Function(`return ${gather}`)()(pc);
      return pc.localDescription!.toJSON();
    }, [offer, gathered.toString()] as const);
    await sender!.evaluate(async (answer) => {
      const w = window as unknown as Side;
      await w.pcs.at(-1)!.setRemoteDescription(answer);
      const lane = w.lanes.at(-1)!;
      if (lane.readyState !== 'open') await new Promise((resolve) => (lane.onopen = resolve));
    }, answer);
  }
  // Timed in the pages by the wall clock both share: from the first send to the last byte.
  const once = async (size: number) => {
    const arrived = receiver!.evaluate((size) => {
      const w = window as unknown as Side;
      w.got = 0;
      w.want = size;
      return new Promise<number>((resolve) => (w.done = resolve));
    }, size);
    await receiver!.evaluate(() => 0); // after the call above: the receiver is waiting
    // 64 KiB messages paced by bufferedAmount at ours' marks (server/agent/p2p.ts), a share a lane.
    const started = await sender!.evaluate((size) => {
      const w = window as unknown as Side;
      const chunk = new Uint8Array(64 * 1024);
      const at = Date.now();
      w.lanes.forEach(async (lane, i) => {
        lane.bufferedAmountLowThreshold = 1 << 20;
        const share = Math.floor(size / w.lanes.length) + (i === 0 ? size % w.lanes.length : 0);
        for (let sent = 0; sent < share; sent += chunk.byteLength) {
          if (lane.bufferedAmount > 4 << 20) await new Promise((resolve) => (lane.onbufferedamountlow = resolve));
          lane.send(chunk.subarray(0, Math.min(chunk.byteLength, share - sent)));
        }
      });
      return at;
    }, size);
    return size / 1e6 / ((await arrived - started) / 1000);
  };
  return {
    async rate(size: number) {
      await once(size); // warm-up
      const rates: number[] = [];
      for (let i = 0; i < runs; i++) rates.push(await once(size));
      return median(rates);
    },
    async close() {
      await Promise.all([sender!, receiver!].map((p) => p.context().close()));
    },
  };
}
