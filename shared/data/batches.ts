import * as tf from "@tensorflow/tfjs-core";
import { nativeOr } from "../backends/native/nativeAddon.js";
import { writeAugmented, type Augmenter } from "./augment.js";
import { BYTE_TO_UNIT, imageSize, type ImageDataset } from "./imageDataset.js";

/** out[base..base+size) = images[from..from+size) / 255. Its own small function: V8 optimises it as a tight loop. */
function scaleImage(images: Uint8Array, from: number, out: Float32Array, base: number, size: number): void {
  for (let j = 0; j < size; j++) out[base + j] = BYTE_TO_UNIT[images[from + j]];
}

type UnitPixels = (images: Uint8Array, order: ArrayLike<number>, start: number, end: number, size: number, out: Float32Array) => void;

/** The examples order[start..end) into out, one after another, as floats in [0, 1]. */
export const jsUnitPixels: UnitPixels = (images, order, start, end, size, out) => {
  for (let i = start; i < end; i++) scaleImage(images, order[i] * size, out, (i - start) * size, size);
};

// The addon's twin (the same 256 values by float32 division, one call per batch) takes ~1/10 of the
// JavaScript's time: ~5% of a native `cnn` training step. It needs the order as a Uint32Array, as the
// training sources give it.
const nativeUnitPixels = nativeOr("unitPixels", jsUnitPixels);

const unitPixels: UnitPixels = (images, order, start, end, size, out) => {
  if (order instanceof Uint32Array) nativeUnitPixels()(images, order, start, end, size, out);
  else jsUnitPixels(images, order, start, end, size, out);
};

/** A batch as arrays: pixels [n, height, width, channels] in [0, 1] and one-hot labels [n, classes]. */
export interface BatchArrays {
  pixels: Float32Array;
  oneHot: Float32Array;
}

/**
 * The examples order[start..end) as a float batch: pixels rescaled to [0, 1] (the brief's rescale=1/255)
 * and one-hot labels. Converting per batch keeps a shard in memory at 1 byte per pixel. With an
 * augmenter (training only) each example is flipped/cropped by its next draw while it is converted, so
 * augmentation costs no extra pass or copy.
 */
export function makeBatch(
  d: ImageDataset,
  order: ArrayLike<number>,
  start: number,
  end: number,
  augment?: Augmenter,
): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const { pixels, oneHot } = fillBatch(d, order, start, end, augment);
  const n = end - start;
  return {
    x: tf.tensor4d(pixels, [n, d.height, d.width, d.channels]),
    y: tf.tensor2d(oneHot, [n, d.classNames.length]),
  };
}

/** makeBatch's arrays; written into the start of `into`'s arrays (large enough for the batch) when it is given. */
export function fillBatch(
  d: ImageDataset,
  order: ArrayLike<number>,
  start: number,
  end: number,
  augment?: Augmenter,
  into?: BatchArrays,
): BatchArrays {
  const size = imageSize(d);
  const n = end - start;
  const k = d.classNames.length;
  const pixels = into ? into.pixels.subarray(0, n * size) : new Float32Array(n * size);
  // writeAugmented leaves the padding it crops in untouched: it must be zero, not a previous batch's.
  if (into && augment) pixels.fill(0);
  // One-hot built here rather than by oneHot + cast kernels: one tensor upload instead of three ops.
  const oneHot = into ? into.oneHot.subarray(0, n * k).fill(0) : new Float32Array(n * k);
  const images = d.images;
  if (!augment) unitPixels(images, order, start, end, size, pixels);
  for (let i = 0; i < n; i++) {
    const src = order[start + i];
    if (augment) writeAugmented(images, src * size, pixels, i * size, d.height, d.width, d.channels, augment.draw());
    const label = d.labels[src];
    // As tf.oneHot: a label outside the classes is an all-zero row.
    if (label < k) oneHot[i * k + label] = 1;
  }
  return { pixels, oneHot };
}

/** 0..n-1, the order used when no shuffling is wanted (evaluation). */
export function identityOrder(n: number): Uint32Array {
  const o = new Uint32Array(n);
  for (let i = 0; i < n; i++) o[i] = i;
  return o;
}
