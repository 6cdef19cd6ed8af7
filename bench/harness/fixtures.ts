/** Inputs shared by several benchmarks: Fashion-MNIST subsets and synthetic models of a given size. */
import type { ImageDataset } from "../../shared/data/imageDataset.js";
import type { WeightSpec } from "../../shared/model/weights.js";

/** A fixed, seeded, class-mixed subset of Fashion-MNIST's training split (n examples). */
export async function fashionMnistSubset(n: number, seed = 1234): Promise<{ train: ImageDataset; test: ImageDataset }> {
  const { loadBuiltinDataset } = await import("../../client/data/builtinDatasets.js");
  const { subset } = await import("../../shared/data/imageDataset.js");
  const data = await loadBuiltinDataset("fashion-mnist");
  const order = shuffled(data.train.count, seed);
  return { train: subset(data.train, order.subarray(0, Math.min(n, data.train.count))), test: data.test };
}

/** 0..n-1 in a seeded random order (a local LCG, so the bench does not depend on shared/random's API). */
export function shuffled(n: number, seed: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  let s = seed >>> 0 || 1;
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}

/**
 * The layout of a synthetic model with exactly `params` float32 parameters: a few layers of uneven
 * sizes (so chunks span tensor boundaries), like a real model's kernels and biases.
 */
export function syntheticSpecs(params: number): WeightSpec[] {
  const bias = Math.min(1000, Math.max(1, Math.floor(params / 1000)));
  const rest = params - 2 * bias;
  const a = Math.floor(rest * 0.6);
  const b = rest - a;
  return [
    { name: "layer1/kernel", shape: [a] },
    { name: "layer1/bias", shape: [bias] },
    { name: "layer2/kernel", shape: [b] },
    { name: "layer2/bias", shape: [bias] },
  ].filter((s) => s.shape[0] > 0);
}

/** Deterministic small float values (fast to generate even for 100M parameters). */
export function fillPattern(out: Float32Array, seed: number): Float32Array {
  const period = 4093; // prime: no alignment with chunk or layer sizes
  const base = new Float32Array(period);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < period; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    base[i] = (s / 2 ** 32 - 0.5) * 0.02;
  }
  for (let off = 0; off < out.length; off += period) out.set(base.subarray(0, Math.min(period, out.length - off)), off);
  return out;
}

export function syntheticWeights(specs: readonly WeightSpec[], seed: number): Float32Array[] {
  return specs.map((s, i) => fillPattern(new Float32Array(s.shape.reduce((a, b) => a * b, 1)), seed * 31 + i));
}

export const MB = 1e6;
export const MiB = 2 ** 20;
