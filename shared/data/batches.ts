import * as tf from "@tensorflow/tfjs-core";
import { writeAugmented, type Augmenter } from "./augment.js";
import { imageSize, type ImageDataset } from "./imageDataset.js";

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
  const size = imageSize(d);
  const n = end - start;
  const k = d.classNames.length;
  const pixels = new Float32Array(n * size);
  // One-hot built here rather than by oneHot + cast kernels: one tensor upload instead of three ops.
  const oneHot = new Float32Array(n * k);
  const images = d.images;
  for (let i = 0; i < n; i++) {
    const src = order[start + i];
    const from = src * size;
    const base = i * size;
    if (augment) {
      writeAugmented(images, from, pixels, base, d.height, d.width, d.channels, augment.draw());
    } else {
      for (let j = 0; j < size; j++) pixels[base + j] = images[from + j] / 255;
    }
    const label = d.labels[src];
    // As tf.oneHot: a label outside the classes is an all-zero row.
    if (label < k) oneHot[i * k + label] = 1;
  }
  return {
    x: tf.tensor4d(pixels, [n, d.height, d.width, d.channels]),
    y: tf.tensor2d(oneHot, [n, k]),
  };
}

/** 0..n-1, the order used when no shuffling is wanted (evaluation). */
export function identityOrder(n: number): Uint32Array {
  const o = new Uint32Array(n);
  for (let i = 0; i < n; i++) o[i] = i;
  return o;
}
