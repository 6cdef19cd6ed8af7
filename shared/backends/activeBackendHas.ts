import * as tf from "@tensorflow/tfjs-core";

/**
 * Whether the active backend has every one of these kernels: the project's fused ops (Adam, loss, encoder,
 * conv block) run as their kernels where it does and fall back to composite ops where it does not.
 */
export function activeBackendHas(...kernelNames: string[]): boolean {
  const backend = tf.getBackend();
  return kernelNames.every((k) => tf.getKernel(k, backend) !== undefined);
}
