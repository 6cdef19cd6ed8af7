/**
 * The whole-model training step on the wasm fallback (no native addon): chain models whose conv blocks the
 * WebAssembly SIMD kernels take (shared/backends/simd/) train as trainLocally's tfjs runner does on the
 * same backend, to float32 rounding; the others go through tfjs.
 */
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import "@tensorflow/tfjs-backend-wasm";
import { beforeAll, describe, expect, it } from "vitest";
import { trainLocally } from "../../../client/training/localTrainer.js";
import { activeNativeAddon } from "../../../shared/backends/native/activeAddon.js";
import { registerWasmTrainingKernels } from "../../../shared/backends/wasmTrainingKernels.js";
import { buildModel } from "../../../shared/model/architectures.js";
import { resolveModelSpec } from "../../../shared/model/modelSpec.js";
import { readWeights } from "../../../shared/model/weights.js";
import { both, CLASSES, config, dataset, expectSameTraining, itTrainsCnnAsTfjs } from "./chainTraining.js";

beforeAll(async () => {
  registerWasmTrainingKernels();
  await tf.setBackend("wasm");
  // Plain wasm: this file never registers the native addon.
  expect(activeNativeAddon()).toBeNull();
});

describe("simd chain trainer (wasm fallback)", () => {
  itTrainsCnnAsTfjs("simd");

  it("trains a 'same' RGB first block with an odd kernel, dense layers with and without bias, FedProx and augmentation, with SGD", async () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [9, 11, 3], filters: 12, kernelSize: [3, 2], padding: "same", activation: "relu", name: "c1" }),
        tfl.layers.maxPooling2d({ poolSize: 2, name: "p1" }),
        tfl.layers.flatten({ name: "f" }),
        tfl.layers.dense({ units: 7, useBias: false, name: "d1" }),
        tfl.layers.dense({ units: 6, activation: "relu", name: "d2" }),
        tfl.layers.dense({ units: CLASSES.length, activation: "softmax", name: "out" }),
      ],
    });
    const cfg = config({ optimizer: "sgd", learningRate: 0.05, proximalMu: 0.5, augment: { flip: true, cropPadding: 1 }, epochs: 3 });
    expectSameTraining(await both(model, dataset(21, 9, 11, 3), cfg), "simd");
  });

  it("leaves to tfjs a chain whose later conv block needs its input's gradient (large), or whose filters are not a multiple of 4", async () => {
    const large = buildModel(resolveModelSpec("large", [16, 16, 1], CLASSES));
    const odd = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [10, 10, 1], filters: 6, kernelSize: 3, activation: "relu" }),
        tfl.layers.maxPooling2d({ poolSize: 2 }),
        tfl.layers.flatten(),
        tfl.layers.dense({ units: CLASSES.length, activation: "softmax" }),
      ],
    });
    for (const model of [large, odd]) {
      const r = await trainLocally(model, dataset(16, model.inputs[0].shape[1] as number, model.inputs[0].shape[2] as number, 1), config({ epochs: 1 }));
      expect(r.runner).toBe("tfjs");
    }
  });

  it("refuses a batch that does not fit the model, leaving the model as it was", async () => {
    const model = buildModel(resolveModelSpec("cnn", [10, 10, 1], CLASSES));
    const before = readWeights(model);
    await expect(trainLocally(model, dataset(9, 12, 10, 1), config())).rejects.toThrow(/a batch of 8 12x10x1 images in 4 classes does not fit the model/);
    expect(readWeights(model)).toEqual(before);
  });
});
