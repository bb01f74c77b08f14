/**
 * Blobs between nodes over a WebRTC data channel (#18): binary frames, no JSON per message, the
 * sender paced by the channel's `bufferedAmount`, and the receiver checking the sha-256 before
 * it hands a byte on. Isomorphic: it needs only an RTCDataChannel (a browser's, or one from a
 * WebRTC library in Node) and crypto.subtle.
 *
 *   want   [1][sha-256, 32 bytes]         requester ─▶ holder   (one transfer at a time a channel)
 *   size   [2][length, u32 big-endian]    holder ─▶ requester, then the chunks in order
 *   chunk  [3][up to chunkBytes]
 *   none   [4]                            the holder has it no more (or will not serve now)
 *
 * The requester gives up — and the node fetches from the coordinator instead — when the bytes
 * do not hash to what was asked (a lying or broken peer: `bad-bytes`, to be reported), when the
 * channel closes mid-transfer (`gone`), when nothing arrives for `idleMs` (`timeout`), or on
 * `none`.
 */
export const chunkBytes = 64 * 1024;
/** The sender stops queueing above this and goes on below the low mark (Chrome's send buffer is 16 MiB). */
const highWater = 4 * 1024 * 1024;
const lowWater = 1024 * 1024;
/** Largest blob taken from a peer (the coordinator's own upload limit is 256 MiB by default). */
export const peerBlobMax = 256 * 1024 * 1024;

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
  channel.binaryType = 'arraybuffer';
  channel.bufferedAmountLowThreshold = lowWater;
  let served = 0;
  let queue = Promise.resolve();
  channel.addEventListener('message', (e) => {
    if (!(e.data instanceof ArrayBuffer)) return;
    const frame = new Uint8Array(e.data);
    if (frame[0] !== WANT || frame.byteLength !== 33) return;
    const sha = toHex(frame.subarray(1));
    queue = queue
      .then(async () => {
        const bytes = allowed() ? await get(sha) : undefined;
        const sent = await sendBlob(channel, bytes);
        served += sent;
        if (sent && sent === bytes?.byteLength) onServed?.(sent);
      })
      .catch(() => {});
  });
  return { served: () => served };
}

async function sendBlob(channel: BlobChannel, bytes: Uint8Array | undefined): Promise<number> {
  if (!bytes) {
    channel.send(Uint8Array.of(NONE));
    return 0;
  }
  const head = new Uint8Array(5);
  head[0] = SIZE;
  new DataView(head.buffer).setUint32(1, bytes.byteLength);
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

/** Asks `channel`'s peer for the blob `sha`; resolves with bytes that hash to it, or rejects with a PeerBlobError. */
export function requestBlob(channel: BlobChannel, sha: string, opts: { idleMs?: number } = {}): Promise<Uint8Array<ArrayBuffer>> {
  const idleMs = opts.idleMs ?? 5000;
  channel.binaryType = 'arraybuffer';
  return new Promise((resolve, reject) => {
    let bytes: Uint8Array<ArrayBuffer> | null = null;
    let got = 0;
    let timer: ReturnType<typeof setTimeout>;
    const idle = () => {
      clearTimeout(timer);
      timer = setTimeout(() => end(new PeerBlobError('timeout', `no bytes from the peer in ${idleMs} ms`)), idleMs);
    };
    const end = (outcome: PeerBlobError | Uint8Array<ArrayBuffer>) => {
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
      if (frame[0] === SIZE && frame.byteLength === 5 && !bytes) {
        const size = new DataView(e.data).getUint32(1);
        if (size > peerBlobMax) return end(new PeerBlobError('bad-bytes', `the peer offers ${size} bytes, over ${peerBlobMax}`));
        bytes = new Uint8Array(size);
      } else if (frame[0] === CHUNK && bytes && got + frame.byteLength - 1 <= bytes.byteLength) {
        bytes.set(frame.subarray(1), got);
        got += frame.byteLength - 1;
      } else return end(new PeerBlobError('bad-bytes', 'the peer broke the protocol'));
      if (bytes && got === bytes.byteLength) {
        const whole = bytes;
        void sha256(whole).then((hash) => end(hash === sha ? whole : new PeerBlobError('bad-bytes', `the peer's bytes hash to ${hash.slice(0, 12)}…, not ${sha.slice(0, 12)}…`)));
      }
    };
    channel.addEventListener('message', onMessage);
    channel.addEventListener('close', onClose);
    if (channel.readyState !== 'open') return onClose();
    idle();
    const want = new Uint8Array(33);
    want[0] = WANT;
    want.set(fromHex(sha), 1);
    channel.send(want);
  });
}
