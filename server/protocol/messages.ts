import { z } from 'zod';

/**
 * The node protocol: JSON text frames on GET /api/nodes/ws, one schema set for the
 * coordinator, the browser node and the agent. Isomorphic (zod only).
 *
 * node ─hello─▶ coordinator ─welcome─▶ node ─request─▶ … ─lease─▶ node
 * node ─heartbeat (every heartbeatMs, names its leases)─▶ coordinator extends their deadlines
 * node ─result (output blob uploaded first, with the lease's token)─▶ coordinator ─ack─▶ node
 * coordinator ─cancel─▶ node: drop that attempt (unit decided elsewhere, job cancelled)
 * node ─pause─▶ coordinator leases it nothing more; ─release─▶ gives back a lease not started
 * node ─have─▶ coordinator: blobs it holds for peers; a lease names peers for its inputs
 * node ─peer-report─▶ coordinator: a named peer did not have the blob, or served bad bytes
 * Any malformed frame ─▶ error frame, nothing changes; too many ─▶ the socket is closed.
 */
export const protocolVersion = 1;

const id = z.uuid();
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
/** Outputs this small travel inside their result frame (base64) instead of a separate upload:
 * at 8×8 tiles the upload's HTTP request and its queries were a third of a unit's cost at the
 * coordinator (bench/coordinator). The frame stays under `frameBytesMax`. */
export const inlineBytesMax = 32 * 1024;
/** Inputs this small may travel inside their lease frame (base64), once to a connection, when
 * the coordinator has their bytes in memory: a node's fetch of an 8×8 panel waited ~100 ms for
 * the coordinator's busy event loop, a third of a unit's round trip in the bench (1.1 fetches a
 * unit with a job of 500 units a second, bench/coordinator). Two of them keep a frame near 11 KB. */
export const inlineInputBytesMax = 4 * 1024;
/** Blobs a `have` frame names at most (67 bytes each in JSON: the frame stays under 64 KiB). */
export const haveMax = 500;
/** Where nodes find the coordinator's PeerJS server (server/nodes/peers.ts): `new Peer(nodeId, { path: peerPath, key: peerKey, token: nodeToken })`. */
export const peerPath = '/api/peers';
export const peerKey = 'supernet';
const blobBytes = z.number().int().min(0).max(2 ** 40);

export const capabilities = z.object({
  adapter: z.object({
    vendor: z.string().max(200),
    architecture: z.string().max(200),
    device: z.string().max(200),
    description: z.string().max(500),
  }),
  features: z.array(z.string().max(100)).max(100),
  limits: z.record(z.string().max(100), z.number()).optional(),
  /** Measured at calibration; used only to size leases, never to pay. */
  gflops: z.number().min(0).max(1e7),
  kinds: z.array(z.string().max(50)).min(1).max(50),
});
export type Capabilities = z.infer<typeof capabilities>;

export const nodeMessage = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('hello'),
    protocol: z.literal(protocolVersion),
    name: z.string().max(100).optional(),
    capabilities,
    /** The least credits per GFLOP this node works for (its ask); none: any price. */
    ask: z.number().min(0).max(1e6).optional(),
    /** A node that reconnects names its earlier id and token to keep its leases. */
    resume: z.object({ nodeId: id, token: z.string().max(200) }).optional(),
    /** With resume: the leases the node still holds (running, queued, finished but not acknowledged).
     * The coordinator releases the node's other leases at once (a reload lost them). */
    holding: z.array(id).max(64).optional(),
  }),
  z.object({ type: z.literal('request'), slots: z.number().int().min(1).max(8) }),
  z.object({
    type: z.literal('heartbeat'),
    attempts: z.array(id).max(64),
    /** Blob bytes moved since the last heartbeat (#18): for the node's and the network's figures, never for pay. */
    blobBytes: z.object({ fromPeers: blobBytes, fromCoordinator: blobBytes, toPeers: blobBytes }).optional(),
  }),
  z.object({
    type: z.literal('result'),
    attemptId: id,
    token: z.string().max(200),
    output: sha256,
    elapsedMs: z.number().min(0).optional(),
    /** The output's bytes in base64, for an output of at most `inlineBytesMax` bytes: stored as
     * if uploaded by the node (PUT /api/blobs) just now, without the request. */
    data: z.string().max(Math.ceil(inlineBytesMax / 3) * 4).regex(/^[A-Za-z0-9+/]*={0,2}$/).optional(),
  }),
  z.object({ type: z.literal('fail'), attemptId: id, token: z.string().max(200), reason: z.string().max(2000) }),
  /** Gives a lease back unstarted (the node paused): not held against the node or the unit. */
  z.object({ type: z.literal('release'), attemptId: id, token: z.string().max(200), reason: z.string().max(200) }),
  /** Lease nothing more until the next request. */
  z.object({ type: z.literal('pause') }),
  /** Blobs it now holds (and those it dropped) and will serve to peers: named in others' leases.
   * `serving: false`: it serves no one now (paused), and is named for nothing until its next `have`. */
  z.object({ type: z.literal('have'), blobs: z.array(sha256).max(haveMax), dropped: z.array(sha256).max(haveMax).optional(), serving: z.boolean().optional() }),
  /** A peer a lease named for `sha` said it had it not (`none`), or sent bytes that do not hash to it (`bad-bytes`). */
  z.object({ type: z.literal('peer-report'), nodeId: id, sha: sha256, reason: z.enum(['none', 'bad-bytes']) }),
]);
export type NodeMessage = z.infer<typeof nodeMessage>;

export const unitPayload = z.object({
  id,
  jobId: id,
  kind: z.string(),
  params: z.record(z.string(), z.unknown()),
  inputs: z.array(sha256),
  flops: z.number(),
});
export type UnitPayload = z.infer<typeof unitPayload>;

export const coordinatorMessage = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('welcome'),
    nodeId: id,
    /** Bearer secret for this node's uploads and resumes (`snn_…`). */
    token: z.string(),
    accountId: id.nullable(),
    heartbeatMs: z.number(),
    /** Present when this coordinator shares blobs peer to peer: where its PeerJS server is (server/nodes/peers.ts). */
    peers: z.object({ path: z.string(), key: z.string(), iceServers: z.array(z.string()).max(16) }).optional(),
  }),
  z.object({
    type: z.literal('lease'),
    attemptId: id,
    token: z.string(),
    deadline: z.number(),
    unit: unitPayload,
    /** For inputs other connected nodes hold: up to `peersPerBlob` of their node ids, to try before HTTP (PeerJS). */
    peers: z.record(sha256, z.array(id).max(8)).optional(),
    /** Small inputs' bytes in base64 (`inlineInputBytesMax`), by hash: the node checks each hash, and fetches any that does not match. */
    inline: z.record(sha256, z.string().max(Math.ceil(inlineInputBytesMax / 3) * 4).regex(/^[A-Za-z0-9+/]*={0,2}$/)).optional(),
  }),
  z.object({ type: z.literal('ack'), attemptId: id, status: z.enum(['accepted', 'refused']), reason: z.string().optional() }),
  z.object({ type: z.literal('cancel'), attemptId: id, reason: z.string() }),
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
]);
export type CoordinatorMessage = z.infer<typeof coordinatorMessage>;

/** Frames over this size are refused by the socket itself. */
export const frameBytesMax = 64 * 1024;
