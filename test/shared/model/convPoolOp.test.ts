/**
 * The fused conv block (native, on wasm: conv_pool.cc's tile path and conv_pool_direct.cc's direct path)
 * against the composite ops on the cpu reference backend, and fusedForward (which runs a model's
 * Conv2D+MaxPooling2D pairs as that block) against model.apply.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import * as tfl from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { CONV_POOL_GRAD_KERNEL, CONV_POOL_KERNEL } from "../../../shared/backends/convPoolKernelNames.js";
import { loadNativeAddon, type ConvGeometry } from "../../../shared/backends/native/nativeAddon.js";
import { registerNativeKernels } from "../../../shared/backends/native/nativeKernels.js";
import { buildModel } from "../../../shared/model/architectures.js";
import { convReluPool, type ConvPad } from "../../../shared/model/convPoolOp.js";
import { resolveModelSpec } from "../../../shared/model/modelSpec.js";
import { fusedForward } from "../../../shared/model/fusedForward.js";
import { Random } from "../../../shared/random.js";

beforeAll(async () => {
  const r = registerNativeKernels();
  if (!r.ok) throw new Error(`native kernels unavailable: ${r.reason}`);
  await tf.setBackend("wasm");
});

const rng = new Random(17);
const values = (n: number, scale: number) => Float32Array.from({ length: n }, () => rng.normal() * scale);

function expectClose(a: Float32Array, b: Float32Array, tol: number, what: string) {
  expect(a.length, what).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  expect(worst, what).toBeLessThan(tol);
}

/** Kernel names a function ran, by tf.profile. */
async function kernelsRun(f: () => tf.Tensor | tf.Tensor[]): Promise<Set<string>> {
  const info = await tf.profile(() => f());
  return new Set(info.kernels.map((k) => k.name));
}

interface Case {
  name: string;
  x: number[]; // [N, H, W, C]
  filter: number[]; // [KH, KW, C, OC]
  pad: ConvPad;
  /** The second image constant too, so its windows' four conv outputs tie (away from the padding). Only
   * where the forward pass is the direct path, which sums every position in the same order: sgemm's order
   * may differ between rows, so such a tie can go either way by a rounding, as between any two backends. */
  ties?: boolean;
}

// Direct path: KH*KW*C <= 32 and OC a multiple of 8 up to 64; tile path (im2col + sgemm) otherwise, and
// backward whenever dx is wanted.
const CASES: Case[] = [
  { name: "cnn's first block (direct)", x: [3, 28, 28, 1], filter: [3, 3, 1, 32], pad: "valid", ties: true },
  { name: "'same' padding, odd conv output 13x13 (direct)", x: [2, 13, 13, 1], filter: [3, 3, 1, 16], pad: "same", ties: true },
  { name: "RGB, 24 filters (direct)", x: [2, 10, 9, 3], filter: [3, 3, 3, 24], pad: "valid", ties: true },
  { name: "12 filters (tile)", x: [2, 12, 12, 1], filter: [3, 3, 1, 12], pad: "valid" },
  { name: "a second block, 'same' (tile)", x: [3, 14, 14, 8], filter: [3, 3, 8, 16], pad: "same" },
  { name: "odd conv output 11x11 (tile)", x: [2, 13, 13, 5], filter: [3, 3, 5, 7], pad: "valid" },
  // A pooled row of this one needs more than the 2 MiB tile budget: one per tile.
  { name: "a wide image, one pooled row per tile (tile)", x: [2, 4, 830, 8], filter: [3, 3, 8, 16], pad: "same" },
];

/** Value and gradients (x, filter, bias) of Σ w·block(x, filter, bias) on a backend. */
async function block(backend: string, c: Case, inputGradient: boolean, data: Float32Array[]) {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const [x, filter, bias] = [tf.tensor4d(data[0], c.x as never), tf.tensor4d(data[1], c.filter as never), tf.tensor1d(data[2])];
    const f = (a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) => convReluPool(a as tf.Tensor4D, b as tf.Tensor4D, d as tf.Tensor1D, c.pad, inputGradient);
    const y = f(x, filter, bias);
    const w = tf.reshape(tf.sin(tf.range(0, y.size)), y.shape);
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(f(a, b, d), w)))([x, filter, bias]);
    return { shape: y.shape, y: y.dataSync().slice(), grads: grads.map((g) => g.dataSync().slice()) };
  });
}

function caseData(c: Case): Float32Array[] {
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const x = values(size(c.x), 1);
  // Ties: the first position must win, as in tfjs's max pool. The first image is 0, so each window's four
  // conv outputs are exactly its bias whatever the order of the sums (ties where the bias is > 0).
  const image = size(c.x.slice(1));
  x.fill(0, 0, image);
  if (c.ties) x.fill(0.5, image, 2 * image);
  return [x, values(size(c.filter), 0.4), values(c.filter[3], 0.2)];
}

describe("fused conv block", () => {
  it("is registered on wasm only", () => {
    for (const k of [CONV_POOL_KERNEL, CONV_POOL_GRAD_KERNEL]) {
      expect(tf.getKernel(k, "wasm"), k).toBeDefined();
      expect(tf.getKernel(k, "cpu"), k).toBeUndefined();
    }
  });

  it.each(CASES)("$name: value and gradients match conv2d + bias + relu + maxPool on cpu", async (c) => {
    const data = caseData(c);
    const want = await block("cpu", c, true, data);
    const got = await block("wasm", c, true, data);
    expect(got.shape).toEqual(want.shape);
    expectClose(got.y, want.y, 1e-5, "value");
    ["dx", "dfilter", "dbias"].forEach((what, i) => expectClose(got.grads[i], want.grads[i], 1e-4, what));
    // Without dx (a model's first block) the filter and bias gradients are the same and dx is 0.
    const noDx = await block("wasm", c, false, data);
    expectClose(noDx.y, want.y, 1e-5, "value (no dx)");
    expect(noDx.grads[0].every((v) => v === 0)).toBe(true);
    ["dfilter", "dbias"].forEach((what, i) => expectClose(noDx.grads[i + 1], want.grads[i + 1], 1e-4, `${what} (no dx)`));
  });

  it("runs as the two fused kernels on wasm", async () => {
    await tf.setBackend("wasm");
    const c = CASES[0];
    const [x, filter, bias] = caseData(c);
    const ran = await kernelsRun(() =>
      tf.grads((a: tf.Tensor) => tf.sum(convReluPool(a as tf.Tensor4D, tf.tensor4d(filter, c.filter as never), tf.tensor1d(bias), c.pad)))([
        tf.tensor4d(x, c.x as never),
      ]),
    );
    expect(ran.has(CONV_POOL_KERNEL) && ran.has(CONV_POOL_GRAD_KERNEL)).toBe(true);
    expect(ran.has("Conv2D") || ran.has("MaxPool") || ran.has("MaxPoolGrad")).toBe(false);
  });

  it("rejects what it cannot compute with one clear error", async () => {
    await tf.setBackend("wasm");
    const x = tf.ones([1, 3, 3, 1]);
    expect(() => tf.engine().runKernel(CONV_POOL_KERNEL, { x, filter: tf.ones([3, 3, 1, 8]), bias: tf.ones([8]) }, { pad: "valid" })).toThrow(
      /FedfusionConvPool: the conv output 1x1 is smaller than the 2x2 pooling window/,
    );
    expect(() => tf.engine().runKernel(CONV_POOL_KERNEL, { x: tf.ones([1, 6, 6, 1]), filter: tf.ones([3, 3, 1, 8]), bias: tf.ones([4]) }, { pad: "valid" })).toThrow(
      /bias \[4\] does not match 8 filters/,
    );
    // The addon checks the pooled argmax it is given (a corrupt one would index outside the tile).
    const addon = loadNativeAddon();
    if (!addon.ok) throw new Error(addon.reason);
    const g: ConvGeometry = [1, 6, 6, 1, 3, 3, 8, 1, 1, 1, 1, 0, 0, 4, 4];
    const pooled = 2 * 2 * 8;
    const arg = new Int32Array(pooled).fill(4);
    const f32 = (n: number) => new Float32Array(n).fill(1);
    expect(() => addon.addon.convPoolGrad(f32(pooled), f32(36), f32(72), f32(pooled), arg, f32(72), f32(8), null, g)).toThrow(/argmax entries must be 0..3/);
    expect(() => addon.addon.convPool(f32(36), f32(72), f32(8), f32(pooled - 1), new Int32Array(pooled), g)).toThrow(/smaller than the geometry needs/);
    expect(() => addon.addon.convPool(f32(36), f32(72), f32(8), f32(pooled), new Int32Array(pooled), [1, 6, 6, 1, 3, 3, 8, 2, 2, 1, 1, 0, 0, 2, 2])).toThrow(
      /stride and dilation must be 1/,
    );
  });
});

describe("fusedForward", () => {
  /** Output and every trainable weight's gradient of a weighted sum of the output. */
  function outputAndGrads(model: tfl.LayersModel, forward: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor) {
    return tf.tidy(() => {
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      let out: Float32Array = new Float32Array(0);
      const { grads } = tf.variableGrads(() => {
        const y = forward(x);
        out = y.dataSync().slice() as Float32Array;
        return tf.sum(tf.mul(y, tf.reshape(tf.cos(tf.range(0, y.size)), y.shape))) as tf.Scalar;
      }, vars);
      return { out, grads: vars.map((v) => grads[v.name].dataSync().slice()) };
    });
  }

  it.each(["cnn", "large", "fusion-s"])("%s: output, gradients and prediction match model.apply, with its conv blocks fused", async (name) => {
    await tf.setBackend("wasm");
    const classes = Array.from({ length: 10 }, (_, i) => `c${i}`);
    const model = buildModel(resolveModelSpec(name, [28, 28, 1], classes));
    const x = tf.tensor4d(values(4 * 28 * 28, 1), [4, 28, 28, 1]);
    const ran = await kernelsRun(() => fusedForward(model, x, true));
    expect(ran.has(CONV_POOL_KERNEL), "fused").toBe(true);
    expect(ran.has("MaxPool"), "no layer's max pool left").toBe(false);
    const want = outputAndGrads(model, (t) => model.apply(t, { training: true }) as tf.Tensor, x);
    const got = outputAndGrads(model, (t) => fusedForward(model, t, true), x);
    expectClose(got.out, want.out, 1e-5, "output");
    // Inference (evaluation, predict) too.
    expectClose(tf.tidy(() => fusedForward(model, x, false).dataSync().slice() as Float32Array), tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync().slice() as Float32Array), 1e-5, "prediction");
    expect(got.grads.length).toBe(model.trainableWeights.length);
    got.grads.forEach((g, i) => expectClose(g, want.grads[i], 2e-4, `gradient of ${model.trainableWeights[i].name}`));
    x.dispose();
    model.dispose();
  });

  it("leaves a model that is not a chain to model.apply", async () => {
    await tf.setBackend("wasm");
    const input = tfl.input({ shape: [8, 8, 1] });
    const a = tfl.layers.conv2d({ filters: 8, kernelSize: 3, activation: "relu", padding: "same" }).apply(input) as tfl.SymbolicTensor;
    const b = tfl.layers.maxPooling2d({ poolSize: 2 }).apply(a) as tfl.SymbolicTensor;
    const skip = tfl.layers.maxPooling2d({ poolSize: 2 }).apply(input) as tfl.SymbolicTensor;
    const joined = tfl.layers.concatenate().apply([b, skip]) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: tfl.layers.flatten().apply(joined) as tfl.SymbolicTensor });
    const x = tf.ones([2, 8, 8, 1]);
    const ran = await kernelsRun(() => fusedForward(model, x, true));
    expect(ran.has(CONV_POOL_KERNEL)).toBe(false);
    expect(ran.has("MaxPool")).toBe(true);
    x.dispose();
    model.dispose();
  });

  it("on a backend without the kernels, is model.apply", async () => {
    await tf.setBackend("cpu");
    const model = buildModel(resolveModelSpec("cnn", [12, 12, 1], ["a", "b"]));
    const x = tf.ones([2, 12, 12, 1]);
    const ran = await kernelsRun(() => fusedForward(model, x, true));
    expect(ran.has(CONV_POOL_KERNEL)).toBe(false);
    expect(ran.has("MaxPool")).toBe(true);
    x.dispose();
    model.dispose();
    await tf.setBackend("wasm");
  });
});
