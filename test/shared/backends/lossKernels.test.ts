/**
 * The loss kernels on wasm (cross-entropy, its gradient, correct count) against the composite ops on the
 * cpu reference backend, edge values included: probabilities below the clip, exactly at its ends, 0,
 * ties in argMax, and a row with NaN.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import "@tensorflow/tfjs-layers"; // registers tfjs-core's gradients
import { beforeAll, describe, expect, it } from "vitest";
import { CLIP_MIN, CORRECT_COUNT_KERNEL, CROSS_ENTROPY_GRAD_KERNEL, CROSS_ENTROPY_KERNEL } from "../../../shared/backends/lossKernels.js";
import { registerWasmTrainingKernels } from "../../../shared/backends/wasmTrainingKernels.js";
import { correctCount, correctCountComposite, crossEntropySum, crossEntropySumComposite } from "../../../shared/model/evaluate.js";
import { Random } from "../../../shared/random.js";

beforeAll(async () => {
  registerWasmTrainingKernels();
  await tf.setBackend("wasm");
});

const rng = new Random(5);
const B = 7;
const K = 5;

/** Softmax-like rows with the edge cases in the first rows. */
function batch(): { p: Float32Array; y: Float32Array } {
  const p = new Float32Array(B * K);
  const y = new Float32Array(B * K);
  for (let r = 0; r < B; r++) {
    let s = 0;
    for (let j = 0; j < K; j++) s += p[r * K + j] = Math.exp(rng.normal() * 2);
    for (let j = 0; j < K; j++) p[r * K + j] /= s;
    y[r * K + Math.floor(rng.next() * K)] = 1;
  }
  p.set([0, 1e-9, CLIP_MIN, 1, 0.5], 0); // below the clip, at both ends of it
  y.fill(0, 0, K);
  y[1] = 1; // the true class clipped: a finite loss, no gradient through the clip
  p.set([0.25, 0.25, 0.25, 0.25, 0], K); // a tie: the first maximum is the prediction
  y.fill(0, K, 2 * K);
  y[K] = 1;
  p.set([NaN, 0.5, 0.5, 0, 0], 2 * K); // a diverged row: never correct
  y.fill(0, 2 * K, 3 * K);
  y[2 * K + 1] = 1;
  p.set([CLIP_MIN, 1 - CLIP_MIN, 0, 0, 0], 3 * K); // the true class at the clip's lower end: its gradient passes
  y.fill(0, 3 * K, 4 * K);
  y[3 * K] = 1;
  return { p, y };
}

/** The batch without its NaN row (row 2), for the loss and gradients. */
function finiteRows(d: { p: Float32Array; y: Float32Array }) {
  const keep = (a: Float32Array) => Float32Array.from([...a.subarray(0, 2 * K), ...a.subarray(3 * K)]);
  return { p: keep(d.p), y: keep(d.y) };
}

async function run(backend: string, data: { p: Float32Array; y: Float32Array }, fusedOps: boolean) {
  await tf.setBackend(backend);
  const ce = fusedOps ? crossEntropySum : crossEntropySumComposite;
  const count = fusedOps ? correctCount : correctCountComposite;
  const fin = finiteRows(data);
  return tf.tidy(() => {
    const p = tf.tensor2d(fin.p, [B - 1, K]);
    const y = tf.tensor2d(fin.y, [B - 1, K]);
    const [dp, dy] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.mul(ce(b as tf.Tensor2D, a as tf.Tensor2D), 0.37))([p, y]);
    const all = [tf.tensor2d(data.y, [B, K]), tf.tensor2d(data.p, [B, K])] as const;
    return {
      loss: ce(y, p).dataSync()[0],
      nanLoss: ce(...all).dataSync()[0],
      correct: count(...all).dataSync()[0],
      dp: dp.dataSync().slice() as Float32Array,
      dy: dy.dataSync().slice() as Float32Array,
    };
  });
}

describe("loss kernels", () => {
  it("are registered on wasm", () => {
    for (const k of [CROSS_ENTROPY_KERNEL, CROSS_ENTROPY_GRAD_KERNEL, CORRECT_COUNT_KERNEL]) expect(tf.getKernel(k, "wasm"), k).toBeDefined();
  });

  it("give the composite ops' loss, gradients and count, edge values included", async () => {
    const data = batch();
    const want = await run("cpu", data, false);
    const got = await run("wasm", data, true);
    const ran = await tf.profile(() => correctCount(tf.tensor2d(data.y, [B, K]), tf.tensor2d(data.p, [B, K])));
    expect(ran.kernels.map((k) => k.name)).toContain(CORRECT_COUNT_KERNEL);
    expect(Math.abs(got.loss - want.loss) / want.loss).toBeLessThan(1e-6);
    expect(want.loss).toBeGreaterThan(16); // the clipped true class: −log(1e-7)
    expect(Number.isNaN(got.nanLoss) && Number.isNaN(want.nanLoss)).toBe(true);
    expect(got.correct).toBe(want.correct);
    expect(got.dp).toEqual(want.dp); // the same float32 operations: identical
    for (let i = 0; i < got.dy.length; i++) expect(got.dy[i]).toBeCloseTo(want.dy[i], 5);
    // The clip: no gradient below it (row 0's true class), the gradient at its end (row 3's, now row 2).
    expect([got.dp[0], got.dp[1]]).toEqual([0, 0]);
    expect(got.dp[2 * K]).toBeLessThan(-1e5);
  });

  it("reject mismatched shapes with one clear error", async () => {
    await tf.setBackend("wasm");
    expect(() => tf.engine().runKernel(CROSS_ENTROPY_KERNEL, { p: tf.ones([2, 3]), y: tf.ones([2, 4]) })).toThrow(
      /FedfusionCrossEntropy: p \[2,3\] and y \[2,4\] must be one \[batch, classes\] shape/,
    );
    expect(() => tf.engine().runKernel(CROSS_ENTROPY_GRAD_KERNEL, { dy: tf.ones([2]), p: tf.ones([2, 3]), y: tf.ones([2, 3]) })).toThrow(
      /dy must be a scalar/,
    );
  });
});
