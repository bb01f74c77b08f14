import type { Peer } from 'peerjs';
import { WebSocket } from 'ws';

/**
 * WebRTC for the agent (#18): @roamhq/wrtc, whose native binaries come as registry packages
 * (no build script runs at install), put where PeerJS looks for it — the browser's globals —
 * with `ws` for PeerJS's signalling socket (Node 20 has no global WebSocket). On a platform with
 * no binary (wrtc ships linux x64/arm64, macOS, Windows x64) the agent says so and fetches every
 * blob from the coordinator, as before.
 *
 * Measured: 35 MB/s for a 16 MiB blob between two agents on loopback (one run).
 */
/**
 * A browser's WebSocket never throws on a failed connect; `ws` emits 'error', and with no
 * listener (PeerJS sets none) that killed the agent when its coordinator went away just as the
 * peer was connecting. The close that follows is what PeerJS handles.
 */
class QuietWebSocket extends WebSocket {
  constructor(...args: ConstructorParameters<typeof WebSocket>) {
    super(...args);
    this.on('error', () => {});
  }
}

export async function loadPeerJs(): Promise<typeof Peer> {
  const wrtc = (await import('@roamhq/wrtc')).default;
  const g = globalThis as Record<string, unknown>;
  g.RTCPeerConnection ??= wrtc.RTCPeerConnection;
  g.RTCSessionDescription ??= wrtc.RTCSessionDescription;
  g.RTCIceCandidate ??= wrtc.RTCIceCandidate;
  g.WebSocket ??= QuietWebSocket;
  // PeerJS is CommonJS for Node: its exports arrive on the default export.
  const peerjs = (await import('peerjs')) as unknown as { Peer?: typeof Peer; default: { Peer: typeof Peer } };
  return peerjs.Peer ?? peerjs.default.Peer;
}
