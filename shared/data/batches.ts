import * as tf from "@tensorflow/tfjs-core";
import { imageSize, type ImageDataset } from "./imageDataset.js";

/**
 * The examples order[start..end) as a float batch: pixels rescaled to [0, 1] (the brief's rescale=1/255)
 * and one-hot labels. Converting per batch keeps a shard in memory at 1 byte per pixel.
 */
export function makeBatch(d: ImageDataset, order: ArrayLike<number>, start: number, end: number): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const size = imageSize(d);
  const n = end - start;
  const pixels = new Float32Array(n * size);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const src = order[start + i];
    const from = d.images.subarray(src * size, (src + 1) * size);
    const base = i * size;
    for (let j = 0; j < size; j++) pixels[base + j] = from[j] / 255;
    labels[i] = d.labels[src];
  }
  return tf.tidy(() => ({
    x: tf.tensor4d(pixels, [n, d.height, d.width, d.channels]),
    y: tf.cast(tf.oneHot(tf.tensor1d(labels, "int32"), d.classNames.length), "float32") as tf.Tensor2D,
  }));
}

/** 0..n-1, the order used when no shuffling is wanted (evaluation). */
export function identityOrder(n: number): Uint32Array {
  const o = new Uint32Array(n);
  for (let i = 0; i < n; i++) o[i] = i;
  return o;
}
