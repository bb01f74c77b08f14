/**
 * Blobs between nodes over WebRTC data channels (#18): binary frames, no JSON per message, the
 * sender paced by the channel's `bufferedAmount`, a blob striped over several channels to one
 * peer at once (lanes), and the receiver checking the sha-256 before it hands a byte on.
 * Isomorphic: it needs only RTCDataChannels (a browser's, or a WebRTC library's in Node) and
 * crypto.subtle.
 *
 *   want   [1][sha-256, 32 bytes][offset u32][length u32]   requester ─▶ holder (one at a time a channel)
 *   size   [2][the blob's whole length, u32]                 holder ─▶ requester, then that range's chunks in order
 *   chunk  [3][up to chunkBytes]
 *   none   [4]                                               the holder has it no more (or will not serve now)
 * (Big-endian; a 33-byte want, with no range, asks for the whole blob.)
 *
 * Lanes: the first lane asks for the first `firstBytes`, which also tells the blob's length; the
 * rest is cut into one range a lane, asked for at once. One Chromium channel on this 2-core
 * machine moved 1.8 MB/s of an 8 MiB blob, two at once 5.0 and four 6.3 (one run): a data
 * channel's SCTP association, not the machine, was the limit — as others found between Chrome
 * instances (several peer connections "matter most").
 *
 * The requester gives up — and the node fetches from the coordinator instead — when the bytes
 * do not hash to what was asked (a lying or broken peer: `bad-bytes`, to be reported), when a
 * channel closes mid-transfer (`gone`), when nothing arrives for `idleMs` (`timeout`), or on
 * `none`.
 */
export const chunkBytes = 64 * 1024;
/** The sender stops queueing above this and goes on below the low mark (Chrome's send buffer is 16 MiB). */
const highWater = 4 * 1024 * 1024;
const lowWater = 1024 * 1024;
/** Asked of the first lane alone: a blob this small is not worth splitting. */
const firstBytes = 1024 * 1024;
/** Largest blob taken from a peer (the coordinator's own upload limit is 256 MiB by default). */
export const peerBlobMax = 256 * 1024 * 1024;
const whole = 0xffffffff;

const WANT = 1, SIZE = 2, CHUNK = 3, NONE = 4;

/** What this module needs of an RTCDataChannel. */
export interface BlobChannel {
  binaryType: string;
  readonly bufferedAmount: number;
  bufferedAmountLowThreshold: number;
  readonly readyState: string;
  send(data: Uint8Array<ArrayBuffer>): void;
  addEventListener(type: 'message', listener: (e: { data: unknown }) => void): void;
  addEventListener(type: 'bufferedamountlow' | 'close' | 'error', listener: () => void): void;
  removeEventListener(type: 'message', listener: (e: { data: unknown }) => void): void;
  removeEventListener(type: 'bufferedamountlow' | 'close' | 'error', listener: () => void): void;
}

export type PeerFailure = 'bad-bytes' | 'gone' | 'timeout' | 'none';
export class PeerBlobError extends Error {
  constructor(
    readonly kind: PeerFailure,
    message: string,
  ) {
    super(message);
  }
}

const toHex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const fromHex = (hex: string) => Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)));
}

/**
 * Answers `want` frames on `channel` from `get` (the node's blob cache), one transfer after
 * another. `allowed` is asked before each: a node paused by its politeness says no, and the
 * requester goes to the coordinator. `onServed` hears of each blob sent whole (its bytes).
 */
export function serveBlobs(
  channel: BlobChannel,
  get: (sha: string) => Promise<Uint8Array | undefined>,
  { allowed = () => true, onServed }: { allowed?: () => boolean; onServed?: (bytes: number) => void } = {},
): { served: () => number } {
  // A channel is served once. PeerJS now and then says a connection opened twice (1 in ~80
  // connections in tests/e2e/peers.test.ts); served twice, every want was answered twice, the
  // requester read a second `size` mid-transfer and reported an honest peer as `bad-bytes`.
  const serving = servers.get(channel);
  if (serving) return serving;
  channel.binaryType = 'arraybuffer';
  channel.bufferedAmountLowThreshold = lowWater;
  let served = 0;
  let queue = Promise.resolve();
  channel.addEventListener('message', (e) => {
    if (!(e.data instanceof ArrayBuffer)) return;
    const frame = new Uint8Array(e.data);
    if (frame[0] !== WANT || (frame.byteLength !== 33 && frame.byteLength !== 41)) return;
    const sha = toHex(frame.subarray(1, 33));
    const view = new DataView(e.data);
    const [offset, length] = frame.byteLength === 41 ? [view.getUint32(33), view.getUint32(37)] : [0, whole];
    queue = queue
      .then(async () => {
        const bytes = allowed() ? await get(sha) : undefined;
        const range = bytes?.subarray(Math.min(offset, bytes.byteLength), Math.min(bytes.byteLength, offset + length));
        const sent = await sendRange(channel, bytes?.byteLength, range);
        served += sent;
        if (sent && sent === range?.byteLength) onServed?.(sent);
      })
      .catch(() => {});
  });
  const handle = { served: () => served };
  servers.set(channel, handle);
  return handle;
}
const servers = new WeakMap<BlobChannel, { served: () => number }>();

/** `size` (the whole blob's length), then the range's chunks; `none` when there is no blob. */
async function sendRange(channel: BlobChannel, total: number | undefined, bytes: Uint8Array | undefined): Promise<number> {
  if (total === undefined || !bytes) {
    channel.send(Uint8Array.of(NONE));
    return 0;
  }
  const head = new Uint8Array(5);
  head[0] = SIZE;
  new DataView(head.buffer).setUint32(1, total);
  channel.send(head);
  let sent = 0;
  for (let at = 0; at < bytes.byteLength; at += chunkBytes) {
    if (channel.bufferedAmount > highWater) await drained(channel);
    if (channel.readyState !== 'open') break;
    const part = bytes.subarray(at, at + chunkBytes);
    const frame = new Uint8Array(1 + part.byteLength);
    frame[0] = CHUNK;
    frame.set(part, 1);
    channel.send(frame);
    sent += part.byteLength;
  }
  return sent;
}

/**
 * Until the send buffer is down to the low mark: its event where the channel has one (browsers),
 * else by looking every few ms (@roamhq/wrtc's channels in Node never fire `bufferedamountlow`,
 * and a transfer waiting for it stalled at 4 MiB).
 */
function drained(channel: BlobChannel): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearInterval(poll);
      channel.removeEventListener('bufferedamountlow', done);
      channel.removeEventListener('close', done);
      resolve();
    };
    const poll = setInterval(() => (channel.bufferedAmount <= lowWater || channel.readyState !== 'open') && done(), 5);
    channel.addEventListener('bufferedamountlow', done);
    channel.addEventListener('close', done);
  });
}

/**
 * Asks the peer at the other end of `lanes` (one channel or several to the same peer) for the
 * blob `sha`, striped over them; resolves with bytes that hash to it, or rejects with a PeerBlobError.
 */
export async function requestBlob(lanes: BlobChannel | BlobChannel[], sha: string, opts: { idleMs?: number } = {}): Promise<Uint8Array<ArrayBuffer>> {
  const channels = Array.isArray(lanes) ? lanes : [lanes];
  const idleMs = opts.idleMs ?? 5000;
  let blob: Uint8Array<ArrayBuffer> | null = null;
  const into = (total: number) => {
    if (total > peerBlobMax) throw new PeerBlobError('bad-bytes', `the peer offers ${total} bytes, over ${peerBlobMax}`);
    if (blob && blob.byteLength !== total) throw new PeerBlobError('bad-bytes', 'the peer said two lengths for one blob');
    return (blob ??= new Uint8Array(total));
  };
  const total = await requestRange(channels[0]!, sha, 0, firstBytes, into, idleMs);
  if (total > firstBytes) {
    // The rest in whole chunks, one range a lane.
    const per = Math.ceil((total - firstBytes) / channels.length / chunkBytes) * chunkBytes;
    await Promise.all(channels.map((channel, i) => {
      const offset = firstBytes + i * per;
      return offset < total ? requestRange(channel, sha, offset, Math.min(per, total - offset), into, idleMs) : null;
    }));
  }
  const bytes = into(total);
  const hash = await sha256(bytes);
  if (hash !== sha) throw new PeerBlobError('bad-bytes', `the peer's bytes hash to ${hash.slice(0, 12)}…, not ${sha.slice(0, 12)}…`);
  return bytes;
}

/** One range over one channel, written into the blob `into` sizes from the `size` frame; resolves with the blob's whole length. */
function requestRange(channel: BlobChannel, sha: string, offset: number, length: number, into: (total: number) => Uint8Array<ArrayBuffer>, idleMs: number): Promise<number> {
  channel.binaryType = 'arraybuffer';
  return new Promise((resolve, reject) => {
    let target: Uint8Array<ArrayBuffer> | null = null;
    let [total, expected, got] = [0, 0, 0];
    let timer: ReturnType<typeof setTimeout>;
    const idle = () => {
      clearTimeout(timer);
      timer = setTimeout(() => end(new PeerBlobError('timeout', `no bytes from the peer in ${idleMs} ms`)), idleMs);
    };
    const end = (outcome: PeerBlobError | number) => {
      clearTimeout(timer);
      channel.removeEventListener('message', onMessage);
      channel.removeEventListener('close', onClose);
      if (outcome instanceof PeerBlobError) reject(outcome);
      else resolve(outcome);
    };
    const onClose = () => end(new PeerBlobError('gone', `the peer went away after ${got} bytes`));
    const onMessage = (e: { data: unknown }) => {
      if (!(e.data instanceof ArrayBuffer)) return;
      const frame = new Uint8Array(e.data);
      idle();
      if (frame[0] === NONE) return end(new PeerBlobError('none', 'the peer does not hold it'));
      if (frame[0] === SIZE && frame.byteLength === 5 && !target) {
        total = new DataView(e.data).getUint32(1);
        try {
          target = into(total);
        } catch (err) {
          return end(err as PeerBlobError);
        }
        expected = Math.max(0, Math.min(length, total - offset));
      } else if (frame[0] === CHUNK && target && got + frame.byteLength - 1 <= expected) {
        target.set(frame.subarray(1), offset + got);
        got += frame.byteLength - 1;
      } else return end(new PeerBlobError('bad-bytes', 'the peer broke the protocol'));
      if (got === expected) end(total);
    };
    channel.addEventListener('message', onMessage);
    channel.addEventListener('close', onClose);
    if (channel.readyState !== 'open') return onClose();
    idle();
    const want = new Uint8Array(41);
    want[0] = WANT;
    want.set(fromHex(sha), 1);
    new DataView(want.buffer).setUint32(33, offset);
    new DataView(want.buffer).setUint32(37, length);
    channel.send(want);
  });
}
