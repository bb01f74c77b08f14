import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import express from 'express';
import { ExpressPeerServer } from 'peer';
import { WebSocketServer } from 'ws';
import { sha256Hex } from '../auth/secrets.ts';
import type { Db } from '../db/index.ts';

import { peerKey, peerPath } from '../protocol/messages.ts';

export { peerKey, peerPath };
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Signalling for blobs shared peer to peer (#18): a PeerJS server (the `peer` package) on the
 * coordinator's own HTTP server, at /api/peers/peerjs. Only a node connected now may register,
 * and only under its node id with its node token (`snn_…`) as the PeerJS token: an anonymous
 * id, another node's id or a stale token is refused with a 401 before any WebSocket opens, so
 * a peer id is always a node the coordinator knows, answers for and can judge.
 *
 * Started on the first peer that connects: the `peer` package keeps timers of its own running
 * for the life of the process, which coordinators whose nodes never use it need not pay for.
 * Its HTTP routes (id generation, discovery) are not served: ids are node ids, and who holds a
 * blob is the coordinator's to say.
 */
export class PeerSignals {
  #wss: WebSocketServer | null = null;

  constructor(
    private readonly server: Server,
    private readonly db: Db,
  ) {}

  #start(): WebSocketServer {
    const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
    const peers = ExpressPeerServer(this.server, { path: '/', key: peerKey, allow_discovery: false, concurrent_limit: 1_000_000, createWebSocketServer: () => wss });
    peers.on('error', (err) => console.error('peer signalling:', err.message));
    express().use(peerPath, peers); // mounting is what starts it
    return wss;
  }

  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
    const query = new URL(req.url ?? '', 'http://peers').searchParams;
    const [id, token] = [query.get('id') ?? '', query.get('token') ?? ''];
    const node = uuid.test(id) && token.startsWith('snn_')
      ? await this.db.selectFrom('nodes').select('id').where('id', '=', id).where('token_hash', '=', sha256Hex(token)).where('disconnected_at', 'is', null).executeTakeFirst()
      : undefined;
    if (!node) {
      socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nA peer is a node connected now: its node id and node token (snn_…).\n');
      return;
    }
    const wss = (this.#wss ??= this.#start());
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  }

  close() {
    for (const ws of this.#wss?.clients ?? []) ws.terminate();
    this.#wss?.close();
  }
}
