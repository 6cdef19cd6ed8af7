/**
 * An in-memory set of labelled images, stored compactly as bytes (0–255), NHWC, row-major.
 * Pixels are rescaled to [0, 1] only when a batch becomes a tensor, so a shard costs 1 byte per pixel.
 */
import { sampleIndices, type Random } from "../random.js";

export interface ImageDataset {
  /** count × height × width × channels bytes. */
  readonly images: Uint8Array;
  /** count class indices into classNames. */
  readonly labels: Uint8Array;
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly classNames: readonly string[];
}

/**
 * A pixel byte b as the float32 b / 255 that batches hold (the brief's rescale=1/255), looked up: the same
 * values as dividing, for less per pixel.
 */
export const BYTE_TO_UNIT = Float32Array.from({ length: 256 }, (_, b) => b / 255);

export function imageSize(d: Pick<ImageDataset, "height" | "width" | "channels">): number {
  return d.height * d.width * d.channels;
}

/** The examples at the given indices, in that order, as a new dataset. */
export function subset(d: ImageDataset, indices: ArrayLike<number>): ImageDataset {
  const size = imageSize(d);
  const images = new Uint8Array(indices.length * size);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const src = indices[i];
    images.set(d.images.subarray(src * size, (src + 1) * size), i * size);
    labels[i] = d.labels[src];
  }
  return { ...d, images, labels, count: indices.length };
}

/** At most `n` examples of `d`, drawn at random without replacement; `d` itself when n is undefined or ≥ its count. */
export function sampleOf(d: ImageDataset, n: number | undefined, rng: Random): ImageDataset {
  return n !== undefined && n < d.count ? subset(d, sampleIndices(d.count, n, rng)) : d;
}

/** How many examples of each class (index = class). */
export function classHistogram(d: Pick<ImageDataset, "labels" | "count" | "classNames">): number[] {
  const h = new Array<number>(d.classNames.length).fill(0);
  for (let i = 0; i < d.count; i++) h[d.labels[i]]++;
  return h;
}

/**
 * The same examples labelled by another class list (the federation's). Every class of `d` must be in
 * `classNames`; the caller has checked that with a clear message (see joinMismatch).
 */
export function relabel(d: ImageDataset, classNames: readonly string[]): ImageDataset {
  if (d.classNames.join("\u0000") === classNames.join("\u0000")) return d;
  const map = d.classNames.map((c) => {
    const i = classNames.indexOf(c);
    if (i < 0) throw new Error(`class '${c}' is not in [${classNames.join(", ")}]`);
    return i;
  });
  const labels = new Uint8Array(d.count);
  for (let i = 0; i < d.count; i++) labels[i] = map[d.labels[i]];
  return { ...d, labels, classNames: [...classNames] };
}
