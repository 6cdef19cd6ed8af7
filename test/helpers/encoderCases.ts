/**
 * The fused encoder kernels' cases (GELU and layer norm, values and gradients, and a whole encoder block)
 * against the composite ops on the cpu reference backend, for both implementations on wasm: the native
 * addon's (test/shared/model/encoderOps.test.ts) and the SIMD kernels' on plain wasm
 * (test/shared/backends/simd/simdEncoder.test.ts). The caller sets up the backend.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-layers"; // registers tfjs-core's gradients
import { describe, expect, it } from "vitest";
import { GELU_KERNEL, LAYER_NORM_GRAD_KERNEL, LAYER_NORM_KERNEL } from "../../shared/backends/encoderKernelNames.js";
import { gelu, layerNorm } from "../../shared/model/encoderOps.js";
import { TransformerEncoderBlock } from "../../shared/model/fusionLayers.js";
import { Random } from "../../shared/random.js";

const rng = new Random(9);
const values = (n: number, scale: number) => Float32Array.from({ length: n }, () => rng.normal() * scale);

/** Runs f on a backend; returns its output and the gradients of Σ w·f(...) for a fixed weighting w. */
async function valueAndGrads(backend: string, f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: { v: Float32Array; shape: number[] }[]) {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const xs = inputs.map((i) => tf.tensor(i.v, i.shape));
    const y = f(...xs);
    const w = tf.reshape(tf.sin(tf.range(0, y.size)), y.shape);
    const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), w)))(xs);
    return { y: y.dataSync().slice(), grads: grads.map((g) => g.dataSync().slice()), usedFused: tf.getKernel(GELU_KERNEL, backend) !== undefined };
  });
}

function expectClose(a: Float32Array, b: Float32Array, tol: number, what: string) {
  expect(a.length, what).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  expect(worst, what).toBeLessThan(tol);
}

export { expectClose, valueAndGrads, values };

export function describeEncoderKernels(name: string): void {
describe(`fused encoder kernels (${name})`, () => {
  it("are registered on wasm only", () => {
    for (const k of [GELU_KERNEL, LAYER_NORM_KERNEL, LAYER_NORM_GRAD_KERNEL]) {
      expect(tf.getKernel(k, "wasm"), k).toBeDefined();
      expect(tf.getKernel(k, "cpu"), k).toBeUndefined();
    }
  });

  it.each([[[1600, 128]], [[4, 50, 32]], [[7]]])("GELU %j: value and gradient match the composite ops", async (shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const x = values(n, 3);
    x[0] = 0;
    if (n > 3) [x[1], x[2], x[3]] = [12, -12, 1e-5];
    const want = await valueAndGrads("cpu", gelu, [{ v: x, shape }]);
    const got = await valueAndGrads("wasm", gelu, [{ v: x, shape }]);
    expect(want.usedFused).toBe(false);
    expect(got.usedFused).toBe(true);
    expectClose(got.y, want.y, 2e-6, "gelu");
    expectClose(got.grads[0], want.grads[0], 2e-5, "gelu gradient");
  });

  it.each([[[1600, 64]], [[32, 50, 64]], [[3, 5]]])("layer norm %j: value and gradients (x, gamma, beta) match the composite ops", async (shape) => {
    const d = shape[shape.length - 1];
    const n = shape.reduce((a, b) => a * b, 1);
    const x = values(n, 2);
    // A row far from zero and with a tiny spread: the variance must not cancel.
    for (let j = 0; j < d; j++) x[j] = 1000 + 0.01 * j;
    const inputs = [{ v: x, shape }, { v: values(d, 1), shape: [d] }, { v: values(d, 1), shape: [d] }];
    const want = await valueAndGrads("cpu", layerNorm, inputs);
    const got = await valueAndGrads("wasm", layerNorm, inputs);
    // The first row's values sit on a mean of 1000: float32 composite ops lose digits there, so
    // compare with a tolerance that is still far below what a wrong formula would give.
    expectClose(got.y, want.y, 2e-3, "layer norm");
    ["dx", "dgamma", "dbeta"].forEach((what, i) => expectClose(got.grads[i], want.grads[i], 5e-3, `layer norm ${what}`));
  });

  it("reject shapes that do not fit with one clear error", async () => {
    await tf.setBackend("wasm");
    expect(() => tf.engine().runKernel(LAYER_NORM_KERNEL, { x: tf.ones([2, 4]), gamma: tf.ones([3]), beta: tf.ones([3]) })).toThrow(
      /FedfusionLayerNorm: gamma of shape \[3\] does not match x \[2,4\]/,
    );
  });

  it("a whole encoder block (fused dense + bias, attention, GELU, layer norms): value and every weight's gradient match cpu", async () => {
    const shape = [3, 9, 16];
    const x = values(3 * 9 * 16, 1);
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const block = new TransformerEncoderBlock({ heads: 4, mlpRatio: 2 });
      const r = new Random(21);
      return tf.tidy(() => {
        const input = tf.tensor(x, shape);
        block.apply(input); // builds the weights
        block.setWeights(block.getWeights().map((w) => tf.tensor(Float32Array.from({ length: w.size }, () => r.normal() * 0.3), w.shape)));
        const weighting = tf.reshape(tf.sin(tf.range(0, input.size)), shape);
        const vars = block.trainableWeights.map((w) => w.read() as tf.Variable);
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(block.apply(input) as tf.Tensor, weighting)) as tf.Scalar, vars);
        return { value: value.dataSync()[0], grads: vars.map((v) => grads[v.name].dataSync().slice()) };
      });
    };
    const want = await run("cpu");
    const got = await run("wasm");
    expect(Math.abs(got.value - want.value) / Math.max(1, Math.abs(want.value))).toBeLessThan(1e-4);
    expect(got.grads.length).toBe(16);
    got.grads.forEach((g, i) => expectClose(g, want.grads[i], 1e-3, `gradient of weight ${i}`));
  });
});
}
