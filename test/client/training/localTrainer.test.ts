import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { openDatasetFile, writeDatasetFile } from "../../../client/data/datasetFile.js";
import { loadImageFolder } from "../../../client/data/imageFolder.js";
import { openImageFolder } from "../../../client/data/imageFolderSource.js";
import { evaluateLocally, trainLocally, type LocalTrainingConfig } from "../../../client/training/localTrainer.js";
import type { ImageDataset } from "../../../shared/data/imageDataset.js";
import { inMemorySource } from "../../../shared/data/trainingSource.js";
import { UserError } from "../../../shared/errors.js";
import { initBackend } from "../../../shared/backends/selectBackend.js";
import { buildModel } from "../../../shared/model/architectures.js";
import { evaluateModel } from "../../../shared/model/evaluate.js";
import { resolveModelSpec } from "../../../shared/model/modelSpec.js";
import { initialWeights, readWeights, weightSpecs, writeWeights } from "../../../shared/model/weights.js";
import { pngBytes, tempDir } from "../data/helpers.js";

const CLASSES = ["circle", "cross", "stripe"];
let model: LayersModel;
let start: Float32Array[];
beforeAll(async () => {
  await initBackend("wasm");
  model = buildModel(resolveModelSpec("cnn", [8, 8, 1], CLASSES));
  start = initialWeights(weightSpecs(model), 3);
});

const shape = { height: 8, width: 8, channels: 1 as const };

/** 12 slightly different 8×8 gray images per class: a learnable, asymmetric pattern per class. */
async function folder(): Promise<string> {
  const dir = await tempDir();
  for (const [c, name] of CLASSES.entries()) {
    await mkdir(join(dir, name));
    for (let i = 0; i < 12; i++) {
      const px = Array.from({ length: 64 }, (_, p) => {
        const y = Math.floor(p / 8);
        const x = p % 8;
        const on = c === 0 ? (x - 3) ** 2 + (y - 3) ** 2 < 6 : c === 1 ? x === y || x === 6 - y : x < 3;
        return on ? 200 + i : 10 + ((p * 7 + i) % 30);
      });
      await writeFile(join(dir, name, `${i}.png`), pngBytes(8, 8, 1, px));
    }
  }
  return dir;
}


const config = (extra: Partial<LocalTrainingConfig> = {}): LocalTrainingConfig => ({
  epochs: 2,
  batchSize: 5,
  learningRate: 0.01,
  optimizer: "adam",
  proximalMu: 0,
  seed: 17,
  ...extra,
});

/** Trains from the same starting weights; returns the result and the trained weights. */
async function train(data: Parameters<typeof trainLocally>[1], cfg: LocalTrainingConfig) {
  writeWeights(model, start);
  const result = await trainLocally(model, data, cfg);
  return { result, weights: readWeights(model).map((w) => Array.from(w)) };
}

const without = <T extends { millis: number }>(r: T) => ({ ...r, millis: 0 });

describe("trainLocally", () => {
  let dir: string;
  let dataset: ImageDataset;
  beforeAll(async () => {
    dir = await folder();
    dataset = (await loadImageFolder(dir, shape)).dataset;
  });

  it("trains the same on a streamed folder, a streamed dataset file and the loaded dataset (same seed, same result)", async () => {
    const aug = config({ augment: { flip: true, cropPadding: 1 } });
    const loaded = await train(dataset, aug);
    expect(loaded.result.examples).toBe(36);
    expect(loaded.result.steps).toBe(2 * Math.ceil(36 / 5));
    const { source } = await openImageFolder(dir, shape);
    const streamed = await train(source, aug);
    expect(without(streamed.result)).toEqual(without(loaded.result));
    expect(streamed.weights).toEqual(loaded.weights);
    const file = join(await tempDir(), "shard.ffds");
    await writeDatasetFile(file, dataset);
    const fromFile = await train(await openDatasetFile(file), aug);
    expect(fromFile.weights).toEqual(loaded.weights);
    expect((await train(inMemorySource(dataset), aug)).weights).toEqual(loaded.weights);
  });

  it("a diverged model's rows count as wrong in the training accuracy, as in evaluation", async () => {
    // A learning rate that blows the weights up to Inf/NaN within the first epoch.
    const { result } = await train(dataset, config({ epochs: 2, optimizer: "sgd", learningRate: 1e30 }));
    expect(readWeights(model).some((w) => w.some((v) => !Number.isFinite(v)))).toBe(true);
    expect(result.accuracy).toBe(0);
  });

  it("FedProx: the proximal term keeps the local model nearer the global one", async () => {
    const distance = (w: number[][]) => Math.sqrt(w.reduce((s, layer, l) => s + layer.reduce((t, v, i) => t + (v - start[l][i]) ** 2, 0), 0));
    const free = distance((await train(dataset, config({ epochs: 3 }))).weights);
    const prox = distance((await train(dataset, config({ epochs: 3, proximalMu: 10 }))).weights);
    expect(free).toBeGreaterThan(0);
    expect(prox).toBeLessThan(free * 0.8);
  });

  it("augments deterministically from the seed, and only when asked", async () => {
    const plain = await train(dataset, config());
    const offExplicitly = await train(dataset, config({ augment: { flip: false, cropPadding: 0 } }));
    expect(offExplicitly.weights).toEqual(plain.weights);
    const aug = config({ augment: { flip: true, cropPadding: 2 } });
    const a = await train(dataset, aug);
    const b = await train(dataset, aug);
    expect(b.weights).toEqual(a.weights);
    expect(a.weights).not.toEqual(plain.weights);
    // Another round's seed: other draws (and another order).
    expect((await train(dataset, { ...aug, seed: 18 })).weights).not.toEqual(a.weights);
    // Augmentation has its own random stream: the shuffling order is unchanged by turning it on, so a
    // flip-only run differs from the plain one only through the flips.
    const flipOnly = await train(dataset, config({ augment: { flip: true, cropPadding: 0 } }));
    expect(flipOnly.weights).not.toEqual(plain.weights);
  });

  it("never changes the data: validation evaluation is the same before and after augmented training", async () => {
    const before = Buffer.from(dataset.images);
    writeWeights(model, start);
    const evalBefore = await evaluateModel(model, dataset);
    await trainLocally(model, dataset, config({ augment: { flip: true, cropPadding: 3 } }));
    expect(Buffer.from(dataset.images).equals(before)).toBe(true);
    writeWeights(model, start);
    expect(await evaluateModel(model, dataset)).toEqual(evalBefore);
  });

  it("leaves no tensors behind and refuses bad augmentation before starting", async () => {
    writeWeights(model, start);
    const tensors = tf.memory().numTensors;
    await trainLocally(model, dataset, config({ proximalMu: 0.1, augment: { flip: true, cropPadding: 1 } }));
    expect(tf.memory().numTensors).toBe(tensors);
    await expect(trainLocally(model, dataset, config({ augment: { flip: true, cropPadding: -2 } }))).rejects.toThrow(UserError);
    expect(tf.memory().numTensors).toBe(tensors);
  });
});

describe("evaluateModel", () => {
  it("lets the event loop run between batches (a coordinator evaluating a large test set keeps answering gRPC)", async () => {
    const { dataset } = await loadImageFolder(await folder(), shape);
    writeWeights(model, start);
    let turns = 0;
    let counting = true;
    const tick = () => {
      if (!counting) return;
      turns++;
      setImmediate(tick);
    };
    setImmediate(tick);
    const r = await evaluateModel(model, dataset, 5);
    counting = false;
    expect(r.examples).toBe(36);
    expect(turns).toBeGreaterThanOrEqual(Math.ceil(36 / 5) - 1);
  });
});

describe("evaluateLocally", () => {
  it("gives evaluateModel's result for loaded data, and the same for streamed data", async () => {
    const dir = await folder();
    const { dataset } = await loadImageFolder(dir, shape);
    writeWeights(model, start);
    const want = await evaluateModel(model, dataset, 7);
    expect(await evaluateLocally(model, dataset, 7)).toEqual(want);
    expect(await evaluateLocally(model, inMemorySource(dataset), 7)).toEqual(want);
    const { source } = await openImageFolder(dir, shape);
    const got = await evaluateLocally(model, source, 7);
    expect(got.examples).toBe(want.examples);
    expect(got).toEqual(want);
  });
});
