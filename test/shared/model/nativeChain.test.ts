/**
 * Evaluation and prediction of chain models on the native path (shared/model/nativeChain.ts, outside tfjs)
 * against the same model through tfjs (evaluateBatch, fusedForward), and the models the native chain leaves
 * to tfjs. Training through the same chain: test/client/training/nativeChainTrainer.test.ts.
 */
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { registerNativeKernels } from "../../../shared/backends/native/nativeKernels.js";
import { identityOrder, makeBatch } from "../../../shared/data/batches.js";
import type { ImageDataset } from "../../../shared/data/imageDataset.js";
import { buildModel } from "../../../shared/model/architectures.js";
import { evaluateBatch, evaluateModel, predictProbabilities } from "../../../shared/model/evaluate.js";
import { fusedForward } from "../../../shared/model/fusedForward.js";
import { resolveModelSpec } from "../../../shared/model/modelSpec.js";
import { nativeChain } from "../../../shared/model/nativeChain.js";
import { initialWeights, weightSpecs, writeWeights } from "../../../shared/model/weights.js";
import { Random } from "../../../shared/random.js";

beforeAll(async () => {
  const r = registerNativeKernels();
  if (!r.ok) throw new Error(`native kernels unavailable: ${r.reason}`);
  await tf.setBackend("wasm");
});

const CLASSES = ["a", "b", "c", "d", "e"];

function dataset(count: number, side: number, seed = 9): ImageDataset {
  const rng = new Random(seed);
  const images = Uint8Array.from({ length: count * side * side }, () => rng.int(256));
  const labels = Uint8Array.from({ length: count }, () => rng.int(CLASSES.length));
  return { images, labels, count, height: side, width: side, channels: 1, classNames: CLASSES };
}

describe("native chain evaluation", () => {
  it.each(["cnn", "large"])("%s: evaluateModel and predictProbabilities give tfjs's loss, accuracy and probabilities", async (name) => {
    const model = buildModel(resolveModelSpec(name, [16, 16, 1], CLASSES));
    writeWeights(model, initialWeights(weightSpecs(model), 5));
    const data = dataset(70, 16);
    expect(nativeChain(model, 32, false)).not.toBeNull();
    // The reference: the same batches through tfjs.
    const order = identityOrder(data.count);
    let loss = 0;
    let hits = 0;
    for (let s = 0; s < data.count; s += 32) {
      const [l, c] = evaluateBatch(model, () => makeBatch(data, order, s, Math.min(s + 32, data.count)));
      loss += l;
      hits += c;
    }
    const got = await evaluateModel(model, data, 32);
    expect(got.examples).toBe(70);
    expect(got.accuracy).toBe(hits / 70);
    expect(got.loss).toBeCloseTo(loss / 70, 5);
    const probs = predictProbabilities(model, data, 32);
    const want = tf.tidy(() => fusedForward(model, makeBatch(data, order, 0, 70).x, false).dataSync());
    expect(probs).toHaveLength(70);
    probs.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - want[i * CLASSES.length + j])).toBeLessThan(1e-6)));
  });

  it("reads the weights the model holds when it is called", async () => {
    const model = buildModel(resolveModelSpec("cnn", [16, 16, 1], CLASSES));
    const data = dataset(40, 16);
    writeWeights(model, initialWeights(weightSpecs(model), 1));
    const first = await evaluateModel(model, data);
    writeWeights(model, initialWeights(weightSpecs(model), 2));
    const second = await evaluateModel(model, data);
    expect(second.loss).not.toBe(first.loss);
  });

  it("refuses images that do not fit the model in one line", async () => {
    const model = buildModel(resolveModelSpec("cnn", [16, 16, 1], CLASSES));
    await expect(evaluateModel(model, dataset(10, 12))).rejects.toThrow(/cannot evaluate: a batch of 10 12x12x1 images in 5 classes does not fit the model \(16x16x1/);
  });

  it("leaves other models to tfjs", () => {
    const withDropout = tfl.sequential({
      layers: [tfl.layers.flatten({ inputShape: [4, 4, 1] }), tfl.layers.dropout({ rate: 0.5 }), tfl.layers.dense({ units: 3, activation: "softmax" })],
    });
    const fusion = buildModel(resolveModelSpec("fusion-s", [16, 16, 1], CLASSES));
    expect(nativeChain(withDropout, 8, false)).toBeNull();
    expect(nativeChain(fusion, 8, false)).toBeNull();
  });
});
