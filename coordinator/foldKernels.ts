/**
 * The per-value loops of aggregation, run by the native addon when it is built
 * (shared/backends/native/src/aggregation.cc: vectorised C, ~3-4x the speed of these loops in V8) and
 * by the JavaScript below otherwise. Both do the same float64 arithmetic in the same order (the addon is
 * compiled without FMA contraction), so a federation's numbers do not depend on which one ran.
 */
import { loadNativeAddon, type NativeAddon } from "../shared/backends/native/nativeAddon.js";

export interface FoldKernels {
  /** "native" or "javascript": which implementation runs. */
  readonly name: string;
  /** acc = weight·delta (first) or acc += weight·delta. */
  foldDelta(acc: Float64Array, delta: Float32Array, weight: number, first: boolean): void;
  /** The same with delta = weights − base. */
  foldWeights(acc: Float64Array, weights: Float32Array, base: Float32Array, weight: number, first: boolean): void;
  /** out = base + acc / total, rounded to float32. */
  finishMean(acc: Float64Array, base: Float32Array, total: number, out: Float32Array): void;
}

export const jsFoldKernels: FoldKernels = {
  name: "javascript",
  foldDelta(acc, delta, weight, first) {
    const n = acc.length;
    if (first) for (let j = 0; j < n; j++) acc[j] = weight * delta[j];
    else for (let j = 0; j < n; j++) acc[j] += weight * delta[j];
  },
  foldWeights(acc, weights, base, weight, first) {
    const n = acc.length;
    if (first) for (let j = 0; j < n; j++) acc[j] = weight * (weights[j] - base[j]);
    else for (let j = 0; j < n; j++) acc[j] += weight * (weights[j] - base[j]);
  },
  finishMean(acc, base, total, out) {
    for (let j = 0; j < acc.length; j++) out[j] = base[j] + acc[j] / total;
  },
};

/** The addon's functions as they are (Node-API functions do not use `this`). */
function nativeFoldKernels(addon: NativeAddon): FoldKernels {
  const { foldDelta, foldWeights, finishMean } = addon;
  return { name: "native", foldDelta, foldWeights, finishMean };
}

let chosen: FoldKernels | undefined;

/** The native kernels when the addon loads, else the JavaScript ones (decided once per process). */
export function foldKernels(): FoldKernels {
  if (!chosen) {
    const r = loadNativeAddon();
    chosen = r.ok && typeof r.addon.foldDelta === "function" ? nativeFoldKernels(r.addon) : jsFoldKernels;
  }
  return chosen;
}
