import { convertIndexedToRgb, decode, encode, hasPngSignature } from 'fast-png';

/** A frame as the filters read it: RGBA, each channel a float in [0, 1] (alpha straight, not premultiplied). */
export interface Frame {
  width: number;
  height: number;
  rgba: Float32Array;
}

/** Largest side of a frame in or out: 4096 pixels (4K video is 3840). */
export const sideMax = 4096;

/** What is wrong with a frame file, said as it is. */
export class FrameError extends Error {}

/** A PNG's pixels as a Frame: greyscale, grey+alpha, RGB, RGBA or indexed; 8 or 16 bits. */
export function readFrame(bytes: Uint8Array): Frame {
  if (!hasPngSignature(bytes)) throw new FrameError('it is not a PNG (it does not begin with the PNG signature)');
  let png;
  try {
    png = decode(bytes);
  } catch (err) {
    throw new FrameError(`it is not a readable PNG (${err instanceof Error ? err.message : String(err)})`);
  }
  const { width, height } = png;
  if (!(width >= 1 && height >= 1 && width <= sideMax && height <= sideMax)) throw new FrameError(`it is ${width}×${height}: a frame is at most ${sideMax}×${sideMax} pixels`);
  let data: ArrayLike<number> = png.data;
  let channels = png.channels;
  let scale = png.depth === 16 ? 65535 : 255;
  if (png.palette) {
    data = convertIndexedToRgb(png);
    channels = data.length / (width * height);
    scale = 255;
  } else if (png.depth < 8) throw new FrameError(`it is ${png.depth}-bit greyscale: save it with 8 or 16 bits per channel`);
  const rgba = new Float32Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const p = i * channels;
    const grey = channels <= 2;
    rgba[i * 4] = data[p]! / scale;
    rgba[i * 4 + 1] = data[grey ? p : p + 1]! / scale;
    rgba[i * 4 + 2] = data[grey ? p : p + 2]! / scale;
    rgba[i * 4 + 3] = channels === 2 ? data[p + 1]! / scale : channels === 4 ? data[p + 3]! / scale : 1;
  }
  return { width, height, rgba };
}

/** A channel value as 8 bits: clamped to [0, 1], rounded to the nearest level. */
export const level = (v: number) => Math.round(Math.min(1, Math.max(0, v)) * 255);

/** A Frame as an 8-bit RGBA PNG. */
export function writeFrame(frame: Frame): Uint8Array {
  const data = new Uint8Array(frame.rgba.length);
  for (let i = 0; i < data.length; i++) data[i] = level(frame.rgba[i]!);
  return encode({ width: frame.width, height: frame.height, data, channels: 4, depth: 8 });
}
