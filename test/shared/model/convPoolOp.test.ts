/**
 * The fused conv block (native, on wasm: conv_pool.cc's tile path and conv_pool_direct.cc's direct path)
 * against the composite ops on the cpu reference backend, and fusedForward (which runs a model's
 * Conv2D+MaxPooling2D pairs as that block) against model.apply.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import * as tfl from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { CONV_POOL_KERNEL } from "../../../shared/backends/convPoolKernelNames.js";
import { loadNativeAddon, type ConvGeometry } from "../../../shared/backends/native/nativeAddon.js";
import { registerNativeKernels } from "../../../shared/backends/native/nativeKernels.js";
import { buildModel } from "../../../shared/model/architectures.js";
import { resolveModelSpec } from "../../../shared/model/modelSpec.js";
import { fusedForward } from "../../../shared/model/fusedForward.js";
import { Random } from "../../../shared/random.js";
import { describeConvPoolBlock, expectClose, kernelsRun } from "../../helpers/convPoolCases.js";

beforeAll(async () => {
  const r = registerNativeKernels();
  if (!r.ok) throw new Error(`native kernels unavailable: ${r.reason}`);
  await tf.setBackend("wasm");
});

const rng = new Random(23);
const values = (n: number, scale: number) => Float32Array.from({ length: n }, () => rng.normal() * scale);

describeConvPoolBlock("native");

describe("native conv block", () => {
  it("the addon rejects what would index outside its arrays", () => {
    // The addon checks the pooled argmax it is given (a corrupt one would index outside the tile).
    const addon = loadNativeAddon();
    if (!addon.ok) throw new Error(addon.reason);
    const g: ConvGeometry = [1, 6, 6, 1, 3, 3, 8, 1, 1, 1, 1, 0, 0, 4, 4];
    const pooled = 2 * 2 * 8;
    const arg = new Int32Array(pooled).fill(4);
    const f32 = (n: number) => new Float32Array(n).fill(1);
    expect(() => addon.addon.convPoolGrad(f32(pooled), f32(36), f32(72), f32(pooled), arg, f32(72), f32(8), null, g)).toThrow(/argmax entries must be 0..3/);
    // One bad entry among good ones, negative too (the check compares them as unsigned).
    for (const bad of [-1, 4, 2 ** 31 - 1]) {
      const one = new Int32Array(pooled).fill(2);
      one[pooled - 3] = bad;
      expect(() => addon.addon.convPoolGrad(f32(pooled), f32(36), f32(72), f32(pooled), one, f32(72), f32(8), null, g), String(bad)).toThrow(/argmax entries must be 0..3/);
    }
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
