/**
 * The native whole-model training step (nativeChainTrainer.ts) against trainLocally's tfjs runner on the
 * same backend: the same weights after several steps (to float32 rounding), loss and accuracy, for the
 * chain models it takes, with Adam and SGD, FedProx, augmentation and a last partial batch. Models it does
 * not take go through tfjs.
 */
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { openDatasetFile, writeDatasetFile } from "../../../client/data/datasetFile.js";
import { trainLocally } from "../../../client/training/localTrainer.js";
import { registerNativeKernels } from "../../../shared/backends/native/nativeKernels.js";
import { buildModel } from "../../../shared/model/architectures.js";
import { resolveModelSpec } from "../../../shared/model/modelSpec.js";
import { initialWeights, readWeights, weightSpecs, writeWeights } from "../../../shared/model/weights.js";
import { tempDir } from "../data/helpers.js";
import { both, CLASSES, config, dataset, expectSameTraining, itTrainsCnnAsTfjs } from "./chainTraining.js";

beforeAll(async () => {
  const r = registerNativeKernels();
  if (!r.ok) throw new Error(`native kernels unavailable: ${r.reason}`);
  await tf.setBackend("wasm");
});

describe("native chain trainer", () => {
  itTrainsCnnAsTfjs("native");

  it("trains large (two blocks, the second with its input gradient, a hidden ReLU dense) as tfjs does, with SGD", async () => {
    const model = buildModel(resolveModelSpec("large", [16, 16, 1], CLASSES));
    expectSameTraining(await both(model, dataset(30, 16, 16, 1), config({ optimizer: "sgd", learningRate: 0.05 })), "native");
  });

  it("trains a chain of 'same' blocks, several channels and dense layers with and without bias, with FedProx and augmentation", async () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [9, 11, 3], filters: 6, kernelSize: [3, 2], padding: "same", activation: "relu", name: "c1" }),
        tfl.layers.maxPooling2d({ poolSize: 2, name: "p1" }),
        tfl.layers.conv2d({ filters: 5, kernelSize: 2, activation: "relu", name: "c2" }),
        tfl.layers.maxPooling2d({ poolSize: 2, name: "p2" }),
        tfl.layers.flatten({ name: "f" }),
        tfl.layers.dense({ units: 7, useBias: false, name: "d1" }),
        tfl.layers.dense({ units: 6, activation: "relu", name: "d2" }),
        tfl.layers.dense({ units: CLASSES.length, activation: "softmax", name: "out" }),
      ],
    });
    const cfg = config({ proximalMu: 0.5, augment: { flip: true, cropPadding: 1 }, epochs: 3 });
    expectSameTraining(await both(model, dataset(21, 9, 11, 3), cfg), "native");
  });

  it("trains the same from a streamed dataset file as from the loaded dataset (batches of their own, augmented)", async () => {
    const model = buildModel(resolveModelSpec("cnn", [10, 10, 1], CLASSES));
    const data = dataset(29, 10, 10, 1);
    const cfg = config({ augment: { flip: true, cropPadding: 2 } });
    const start = initialWeights(weightSpecs(model), 11);
    const trained = async (source: Parameters<typeof trainLocally>[1]) => {
      writeWeights(model, start);
      const r = await trainLocally(model, source, cfg);
      return { r: { ...r, millis: 0 }, weights: readWeights(model) };
    };
    const file = join(await tempDir(), "shard.ffds");
    await writeDatasetFile(file, data);
    const loaded = await trained(data);
    const streamed = await trained(await openDatasetFile(file));
    expect(streamed.r).toEqual(loaded.r);
    expect(streamed.weights).toEqual(loaded.weights);
  });

  it("leaves models it does not run to tfjs: not a chain of supported layers, or not ending in a softmax", async () => {
    const data = dataset(16, 10, 10, 1);
    const withDropout = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [10, 10, 1], filters: 4, kernelSize: 3, activation: "relu" }),
        tfl.layers.maxPooling2d({ poolSize: 2 }),
        tfl.layers.flatten(),
        tfl.layers.dropout({ rate: 0.2 }),
        tfl.layers.dense({ units: CLASSES.length, activation: "softmax" }),
      ],
    });
    const sigmoidOut = tfl.sequential({
      layers: [tfl.layers.flatten({ inputShape: [10, 10, 1] }), tfl.layers.dense({ units: CLASSES.length, activation: "sigmoid" })],
    });
    for (const model of [withDropout, sigmoidOut]) {
      const r = await both(model, data, config({ epochs: 1 }));
      // The same tfjs kernels (dropout's random draws differ from run to run, so the weights may).
      expect(r.native.kernels).toBe(r.tfjs.kernels);
      expect(r.native.result.runner).toBe("tfjs");
    }
  });

  it("refuses a batch that does not fit the model, leaving the model as it was", async () => {
    const model = buildModel(resolveModelSpec("cnn", [10, 10, 1], CLASSES));
    const before = readWeights(model);
    await expect(trainLocally(model, dataset(9, 12, 10, 1), config())).rejects.toThrow(
      /cannot train: a batch of 8 12x10x1 images in 4 classes does not fit the model \(10x10x1, 4 classes/,
    );
    // As many values per image, in another shape: refused too, not read as the model's.
    await expect(trainLocally(model, dataset(9, 5, 20, 1), config())).rejects.toThrow(/8 5x20x1 images in 4 classes does not fit the model/);
    expect(readWeights(model)).toEqual(before);
  });
});
