import * as tf from "@tensorflow/tfjs-core";
import { writeAugmented, type Augmenter } from "./augment.js";
import { BYTE_TO_UNIT, imageSize, type ImageDataset } from "./imageDataset.js";

/** out[base..base+size) = images[from..from+size) / 255. Its own small function: V8 optimises it as a tight loop. */
function scaleImage(images: Uint8Array, from: number, out: Float32Array, base: number, size: number): void {
  for (let j = 0; j < size; j++) out[base + j] = BYTE_TO_UNIT[images[from + j]];
}

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
  for (let i = 0; i < n; i++) {
    const src = order[start + i];
    const from = src * size;
    const base = i * size;
    if (augment) {
      writeAugmented(images, from, pixels, base, d.height, d.width, d.channels, augment.draw());
    } else {
      scaleImage(images, from, pixels, base, size);
    }
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
