import * as tf from "@tensorflow/tfjs-core";
import { expect } from "vitest";

export interface KernelOutput {
  v: Float32Array;
  shape: number[];
}

/**
 * Runs `fn` on `backend` and returns its outputs' values and shapes; asserts it leaves no tensor behind.
 * With `checkKernels`, the engine checks every kernel for leaked data ids ("internal memory leak"); tfjs's
 * own custom-gradient ops (fused matMul/conv2d, softmaxCrossEntropy) trip that check, so it is only used
 * where `fn` runs kernels directly. `prepare` runs on the backend first (e.g. to poison freed memory).
 */
export async function runOnBackend(backend: string, fn: () => tf.Tensor | tf.Tensor[], checkKernels: boolean, prepare?: () => void): Promise<KernelOutput[]> {
  await tf.setBackend(backend);
  prepare?.();
  const before = tf.memory().numTensors;
  tf.env().set("IS_TEST", checkKernels);
  let out: tf.Tensor | tf.Tensor[];
  try {
    out = tf.tidy(fn);
  } finally {
    tf.env().set("IS_TEST", false);
  }
  const list = Array.isArray(out) ? out : [out];
  const res = list.map((t) => ({ v: t.dataSync() as Float32Array, shape: t.shape }));
  tf.dispose(list);
  expect(tf.memory().numTensors).toBe(before);
  return res;
}
