/**
 * Registering the project's own kernel names on 'wasm' (the fused encoder and conv-block kernels). They
 * replace nothing: a backend without them keeps the composite ops their callers fall back to.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { KernelFunc } from "@tensorflow/tfjs-core";

const BACKEND = "wasm";

/** Registers each kernel not registered yet (idempotent); returns the names registered now. */
export function registerAddedKernels(table: Record<string, KernelFunc>): string[] {
  const added: string[] = [];
  for (const [kernelName, kernelFunc] of Object.entries(table)) {
    if (tf.getKernel(kernelName, BACKEND)) continue;
    tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc });
    added.push(kernelName);
  }
  return added;
}

/** Removes them again (with unregisterNativeKernels). */
export function unregisterAddedKernels(names: readonly string[]): void {
  for (const name of names) {
    if (tf.getKernel(name, BACKEND)) tf.unregisterKernel(name, BACKEND);
  }
}
