/**
 * The fused Adam optimizer against tfjs's own AdamOptimizer: bit-identical weights after training, with
 * the native kernel and with its JavaScript twin; the two update loops bit-identical on edge values.
 * Fails (does not skip) when the addon is not built, as the other native tests.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import * as tfl from "@tensorflow/tfjs-layers"; // also registers tfjs-core's gradients
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADAM_KERNEL, adamKernel, jsAdamUpdate } from "../../../shared/backends/adamKernel.js";
import { simdAdamUpdate } from "../../../shared/backends/simd/onHeap.js";
import { loadNativeAddon, type NativeAddon } from "../../../shared/backends/native/nativeAddon.js";
import { registerNativeKernels, unregisterNativeKernels } from "../../../shared/backends/native/nativeKernels.js";
import { createOptimizer, FusedAdamOptimizer } from "../../../client/training/optimizers.js";

let addon: NativeAddon;

beforeAll(async () => {
  const r = registerNativeKernels();
  if (!r.ok) throw new Error(`native kernels unavailable: ${r.reason}`);
  const a = loadNativeAddon();
  if (!a.ok) throw new Error(a.reason);
  addon = a.addon;
  await tf.setBackend("wasm");
});

afterAll(() => unregisterNativeKernels());

let seed = 77;
function rand(): number {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed / 2 ** 32 - 0.5;
}

function model(): tfl.LayersModel {
  const m = tfl.sequential();
  m.add(tfl.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: "relu", kernelInitializer: "glorotUniform" }));
  m.add(tfl.layers.flatten());
  m.add(tfl.layers.layerNormalization());
  m.add(tfl.layers.dense({ units: 3, activation: "softmax" }));
  return m;
}

/** Trains a copy of `init` for `steps` steps with `optimizer`; returns every weight's values. */
function train(init: tf.Tensor[], optimizer: tf.Optimizer, steps: number): Float32Array[] {
  const m = model();
  m.setWeights(init);
  seed = 5;
  const x = tf.tensor4d(Float32Array.from({ length: 16 * 64 }, rand), [16, 8, 8, 1]);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Int32Array.from({ length: 16 }, (_, i) => i % 3), "int32"), 3));
  const vars = m.trainableWeights.map((w) => w.read() as tf.Variable);
  for (let s = 0; s < steps; s++) {
    tf.tidy(() => {
      optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, m.apply(x) as tf.Tensor) as tf.Scalar, false, vars);
    });
  }
  const out = m.getWeights().map((w) => w.dataSync() as Float32Array);
  optimizer.dispose();
  tf.dispose([x, y]);
  m.dispose();
  return out;
}

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe("fused Adam", () => {
  it("the native and JavaScript update loops are bit-identical, edge values included", () => {
    const n = 1003;
    const edge = [0, -0, 1e-30, -1e-30, 3e38, -3e38, 1e-45, 0.5, -7];
    const arr = (scale: number) => Float32Array.from({ length: n }, (_, i) => (i < edge.length ? edge[(i * 7) % edge.length] : rand() * scale));
    const x = arr(2);
    const g = arr(1);
    const m = arr(0.1);
    const v = Float32Array.from(arr(0.01), Math.abs);
    const c = Float32Array.of(0.9, 1 - 0.9, 0.999, 1 - 0.999, 1 - 0.9 ** 3, 1 - 0.999 ** 3, 1e-7, -0.003);
    const outs = () => [new Float32Array(n), new Float32Array(n), new Float32Array(n)] as const;
    const a = outs();
    const b = outs();
    addon.adamUpdate(x, g, m, v, ...a, c);
    jsAdamUpdate(x, g, m, v, ...b, c);
    for (let k = 0; k < 3; k++) expect(bits(a[k])).toEqual(bits(b[k]));
    // In place (each output its input), as the native loop allows: the same values.
    const [xi, mi, vi] = [x.slice(), m.slice(), v.slice()];
    addon.adamUpdate(xi, g, mi, vi, xi, mi, vi, c);
    [xi, mi, vi].forEach((t, k) => expect(bits(t)).toEqual(bits(a[k])));
  });

  it("the SIMD update (plain wasm's, on copies) is bit-identical too, edge values included", () => {
    const n = 1003;
    const edge = [0, -0, 1e-30, -1e-30, 3e38, -3e38, 1e-45, 0.5, -7];
    const arr = (scale: number) => Float32Array.from({ length: n }, (_, i) => (i < edge.length ? edge[(i * 5) % edge.length] : rand() * scale));
    const [x, g, m] = [arr(2), arr(1), arr(0.1)];
    const v = Float32Array.from(arr(0.01), Math.abs);
    const c = Float32Array.of(0.9, 1 - 0.9, 0.999, 1 - 0.999, 1 - 0.9 ** 5, 1 - 0.999 ** 5, 1e-7, -0.003);
    const a = [new Float32Array(n), new Float32Array(n), new Float32Array(n)] as const;
    const b = [new Float32Array(n), new Float32Array(n), new Float32Array(n)] as const;
    simdAdamUpdate(x, g, m, v, ...a, c);
    jsAdamUpdate(x, g, m, v, ...b, c);
    for (let k = 0; k < 3; k++) expect(bits(a[k])).toEqual(bits(b[k]));
  });

  for (const impl of ["native", "javascript", "simd"] as const) {
    it(`trains to bit-identical weights as tf.train.adam (${impl} kernel)`, () => {
      const native = tf.getKernel(ADAM_KERNEL, "wasm")!;
      if (impl !== "native") {
        tf.unregisterKernel(ADAM_KERNEL, "wasm");
        tf.registerKernel({ kernelName: ADAM_KERNEL, backendName: "wasm", kernelFunc: adamKernel(impl === "simd" ? simdAdamUpdate : jsAdamUpdate) });
      }
      try {
        const init = model().getWeights().map((w) => w.clone());
        const before = tf.memory().numTensors;
        const fused = train(init, new FusedAdamOptimizer(0.01), 6);
        expect(tf.memory().numTensors, "no tensor leaked (the moments are disposed with the optimizer)").toBe(before);
        const stock = train(init, tf.train.adam(0.01), 6);
        expect(fused.length).toBe(stock.length);
        fused.forEach((w, i) => expect(bits(w), `weight ${i}`).toEqual(bits(stock[i])));
        // And training moved the weights (a no-op optimizer would also "match" a broken comparison).
        expect(bits(fused[0])).not.toEqual(bits(init[0].dataSync() as Float32Array));
        tf.dispose(init);
      } finally {
        tf.unregisterKernel(ADAM_KERNEL, "wasm");
        tf.registerKernel(native);
      }
    });
  }

  it("is what createOptimizer gives on wasm; tfjs's Adam where the backend lacks the kernel", async () => {
    expect(createOptimizer("adam", 0.01)).toBeInstanceOf(FusedAdamOptimizer);
    expect(createOptimizer("sgd", 0.01)).toBeInstanceOf(tf.SGDOptimizer);
    await tf.setBackend("cpu");
    try {
      expect(createOptimizer("adam", 0.01)).toBeInstanceOf(tf.AdamOptimizer);
    } finally {
      await tf.setBackend("wasm");
    }
  });

  it("the kernel refuses mismatched shapes and malformed coefficients with a message naming it", () => {
    const x = tf.zeros([3]);
    const c = Float32Array.of(0.9, 0.1, 0.999, 0.001, 0.1, 0.001, 1e-7, -0.01);
    expect(() => tf.engine().runKernel(ADAM_KERNEL, { x, g: tf.zeros([4]), m: x, v: x }, { coefficients: c } as never)).toThrow(/FedfusionAdam: input of shape \[4\]/);
    expect(() => tf.engine().runKernel(ADAM_KERNEL, { x, g: x, m: x, v: x }, { coefficients: c.subarray(1) } as never)).toThrow(/FedfusionAdam: attr 'coefficients'/);
    tf.dispose(x);
  });
});
