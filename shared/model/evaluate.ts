import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import { activeBackendHas } from "../backends/activeBackendHas.js";
import {
  CLIP_MIN,
  CORRECT_COUNT_KERNEL,
  CROSS_ENTROPY_GRAD_KERNEL,
  CROSS_ENTROPY_KERNEL,
  correctCountOf,
  crossEntropyOf,
} from "../backends/lossKernels.js";
import { identityOrder, makeBatch } from "../data/batches.js";
import type { ImageDataset } from "../data/imageDataset.js";
import { fusedForward } from "./fusedForward.js";
import { nativeChain, nativeForward } from "./nativeChain.js";

export interface Evaluation {
  loss: number;
  accuracy: number;
  examples: number;
}

/**
 * Mean categorical cross-entropy and accuracy of the model over the whole dataset. The event loop runs
 * between batches: a coordinator evaluating each new global model on a large test set (fusion-s on
 * Fashion-MNIST's 10,000 images: ~5 s here, several times that for larger models or on wasm) keeps
 * answering gRPC meanwhile — keepalive pings included, whose 10 s timeout a blocked loop would miss.
 */
export async function evaluateModel(model: tfl.LayersModel, data: ImageDataset, batchSize = 256): Promise<Evaluation> {
  if (data.count === 0) return { loss: NaN, accuracy: NaN, examples: 0 };
  const order = identityOrder(data.count);
  const evaluate = batchEvaluator(model, Math.min(batchSize, data.count));
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < data.count; start += batchSize) {
    if (start > 0) await new Promise((resolve) => setImmediate(resolve));
    const end = Math.min(start + batchSize, data.count);
    const [l, c] = evaluate(data, order, start, end);
    lossSum += l;
    correct += c;
  }
  return { loss: lossSum / data.count, accuracy: correct / data.count, examples: data.count };
}

/** [Σ cross-entropy, correct predictions] over the examples order[start..end) of data. */
export type BatchEvaluator = (data: ImageDataset, order: ArrayLike<number>, start: number, end: number) => [number, number];

/**
 * How to evaluate this model's batches of up to batchSize: a chain model (`cnn`, `large`) outside tfjs
 * where chain kernels apply (nativeChain.ts: the native path, or plain wasm), with the same arithmetic;
 * else through tfjs. One evaluation uses one, so its batches agree to the last bit.
 */
export function batchEvaluator(model: tfl.LayersModel, batchSize: number): BatchEvaluator {
  const chain = nativeChain(model, batchSize, false);
  if (chain === null) return (data, order, start, end) => evaluateBatch(model, () => makeBatch(data, order, start, end));
  return (data, order, start, end) => {
    const { p, oneHot } = nativeForward(chain, data, order, start, end, "cannot evaluate");
    return [crossEntropyOf(p, oneHot), correctCountOf(p, oneHot, end - start, chain.classes)];
  };
}

/** [Σ cross-entropy, correct predictions] over one batch through tfjs. */
export function evaluateBatch(model: tfl.LayersModel, batch: () => { x: tf.Tensor4D; y: tf.Tensor2D }): [number, number] {
  return tf.tidy(() => {
    const { x, y } = batch();
    const p = fusedForward(model, x, false) as tf.Tensor2D;
    const loss = crossEntropySum(y, p);
    return [loss.dataSync()[0], correctCount(y, p).dataSync()[0]];
  });
}

// Where the active backend has the loss kernels (shared/backends/lossKernels.ts: wasm, plain and native),
// the loss, its gradient and the count are one kernel each; elsewhere the composite ops below, which are
// also what those kernels are tested against.
const float32 = (...ts: tf.Tensor[]) => ts.every((t) => t.dtype === "float32");

/** Correct predictions in a batch; a row with non-finite outputs (a diverged model) is wrong, whatever argMax makes of it. */
export function correctCount(y: tf.Tensor2D, p: tf.Tensor2D): tf.Scalar {
  if (float32(y, p) && activeBackendHas(CORRECT_COUNT_KERNEL)) return tf.engine().runKernel(CORRECT_COUNT_KERNEL, { p, y }) as tf.Scalar;
  return correctCountComposite(y, p);
}

export function correctCountComposite(y: tf.Tensor2D, p: tf.Tensor2D): tf.Scalar {
  const valid = tf.logicalAnd(tf.equal(tf.argMax(p, 1), tf.argMax(y, 1)), tf.isFinite(tf.sum(p, 1)));
  return tf.sum(tf.cast(valid, "float32"));
}

/** Σ over the batch of −Σ y·log p, with p clipped as Keras does so a confident mistake costs a finite loss. */
export function crossEntropySum(y: tf.Tensor2D, p: tf.Tensor2D): tf.Scalar {
  if (float32(y, p) && activeBackendHas(CROSS_ENTROPY_KERNEL, CROSS_ENTROPY_GRAD_KERNEL)) return fusedCrossEntropy(p, y);
  return crossEntropySumComposite(y, p);
}

export function crossEntropySumComposite(y: tf.Tensor2D, p: tf.Tensor2D): tf.Scalar {
  return tf.neg(tf.sum(tf.mul(y, tf.log(tf.clipByValue(p, CLIP_MIN, 1)))));
}

// tf.customGrad passes the inputs, then the save function, as one rest list.
const fusedCrossEntropy = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [p, y, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([p, y]);
  return {
    value: tf.engine().runKernel(CROSS_ENTROPY_KERNEL, { p, y }) as tf.Scalar,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.engine().runKernel(CROSS_ENTROPY_GRAD_KERNEL, { dy, p: saved[0], y: saved[1] }) as tf.Tensor[],
  };
}) as (p: tf.Tensor2D, y: tf.Tensor2D) => tf.Scalar;

/** Class probabilities for each image, in order. */
export function predictProbabilities(model: tfl.LayersModel, data: ImageDataset, batchSize = 256): Float32Array[] {
  const order = identityOrder(data.count);
  const chain = data.count > 0 ? nativeChain(model, Math.min(batchSize, data.count), false) : null;
  const out: Float32Array[] = [];
  for (let start = 0; start < data.count; start += batchSize) {
    const end = Math.min(start + batchSize, data.count);
    const probs = chain
      ? nativeForward(chain, data, order, start, end, "cannot predict").p
      : tf.tidy(() => fusedForward(model, makeBatch(data, order, start, end).x, false).dataSync() as Float32Array);
    const k = data.classNames.length;
    for (let i = 0; i < end - start; i++) out.push(probs.slice(i * k, (i + 1) * k));
  }
  return out;
}
