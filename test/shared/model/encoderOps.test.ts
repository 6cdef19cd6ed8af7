/**
 * The fused encoder kernels (native, on wasm) against the composite ops on the cpu reference backend:
 * values and gradients of GELU and layer norm, for the shapes the fusion model uses (test/helpers/encoderCases.ts),
 * and of multi-head attention, which only the native path fuses.
 */
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { ATTENTION_GRAD_KERNEL, ATTENTION_KERNEL } from "../../../shared/backends/encoderKernelNames.js";
import { registerNativeKernels } from "../../../shared/backends/native/nativeKernels.js";
import { attentionComposite, multiHeadAttention } from "../../../shared/model/encoderOps.js";
import { describeEncoderKernels, expectClose, valueAndGrads, values } from "../../helpers/encoderCases.js";
import { kernelsRun } from "../../helpers/convPoolCases.js";

beforeAll(async () => {
  const r = registerNativeKernels();
  if (!r.ok) throw new Error(`native kernels unavailable: ${r.reason}`);
  await tf.setBackend("wasm");
});

describeEncoderKernels("native");

describe("fused multi-head attention (native)", () => {
  it("is registered on wasm only", () => {
    for (const k of [ATTENTION_KERNEL, ATTENTION_GRAD_KERNEL]) {
      expect(tf.getKernel(k, "wasm"), k).toBeDefined();
      expect(tf.getKernel(k, "cpu"), k).toBeUndefined();
    }
  });

  // fusion-s's shape (32 images of 50 tokens, 4 heads of 16), and odd ones: 3 heads of 4, one token, one head.
  it.each([
    [32, 50, 64, 4],
    [3, 7, 12, 3],
    [2, 1, 8, 2],
    [4, 9, 5, 1],
  ])("batch %i, %i tokens, width %i, %i heads: value and gradients (q, k, v) match the composite ops", async (batch, tokens, width, heads) => {
    const shape = [batch * tokens, width];
    const inputs = [0, 1, 2].map(() => ({ v: values(batch * tokens * width, 1.5), shape }));
    const f = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => multiHeadAttention(q as tf.Tensor2D, k as tf.Tensor2D, v as tf.Tensor2D, batch, heads);
    const want = await valueAndGrads("cpu", f, inputs);
    const got = await valueAndGrads("wasm", f, inputs);
    expectClose(got.y, want.y, 2e-5, "attention");
    ["dq", "dk", "dv"].forEach((what, i) => expectClose(got.grads[i], want.grads[i], 1e-4, `attention ${what}`));
  });

  it("runs as the two fused kernels on wasm, with no transposes, and as composite ops on cpu", async () => {
    const [batch, tokens, width, heads] = [2, 5, 8, 2];
    const xs = () => [0, 1, 2].map(() => tf.tensor2d(values(batch * tokens * width, 1), [batch * tokens, width]));
    const ran = async () =>
      kernelsRun(() => tf.grads((q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => tf.sum(multiHeadAttention(q as tf.Tensor2D, k as tf.Tensor2D, v as tf.Tensor2D, batch, heads)))(xs()));
    await tf.setBackend("wasm");
    const fused = await ran();
    expect(fused.has(ATTENTION_KERNEL) && fused.has(ATTENTION_GRAD_KERNEL)).toBe(true);
    expect(fused.has("Transpose") || fused.has("BatchMatMul") || fused.has("Softmax")).toBe(false);
    await tf.setBackend("cpu");
    const composite = await ran();
    expect(composite.has(ATTENTION_KERNEL)).toBe(false);
    expect(composite.has("BatchMatMul") && composite.has("Softmax")).toBe(true);
    // Same function as the composite ops on wasm too.
    await tf.setBackend("wasm");
    tf.tidy(() => {
      const [q, k, v] = xs();
      expectClose(multiHeadAttention(q, k, v, batch, heads).dataSync() as Float32Array, attentionComposite(q, k, v, batch, heads).dataSync() as Float32Array, 2e-6, "fused vs composite on wasm");
    });
  });

  it("rejects shapes that do not split into the batch and heads with one clear error", async () => {
    await tf.setBackend("wasm");
    const t = tf.ones([10, 8]);
    expect(() => tf.engine().runKernel(ATTENTION_KERNEL, { q: t, k: t, v: t }, { batch: 3, heads: 2, scale: 1 })).toThrow(
      /FedfusionAttention: \[10, 8\] does not split into batch 3 and heads 2/,
    );
    expect(() => tf.engine().runKernel(ATTENTION_KERNEL, { q: t, k: tf.ones([10, 4]), v: t }, { batch: 2, heads: 2, scale: 1 })).toThrow(
      /FedfusionAttention: q, k, v must be matrices of one shape/,
    );
  });
});
