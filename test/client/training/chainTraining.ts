/**
 * What the chain trainer's tests (nativeChainTrainer.test.ts, simdChainTrainer.test.ts) share: a learnable
 * dataset, a config, and a run of both runners from the same start, compared.
 */
import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import { expect, it } from "vitest";
import { trainLocally, type LocalTrainingConfig } from "../../../client/training/localTrainer.js";
import type { ImageDataset } from "../../../shared/data/imageDataset.js";
import { buildModel } from "../../../shared/model/architectures.js";
import { resolveModelSpec } from "../../../shared/model/modelSpec.js";
import { initialWeights, readWeights, weightSpecs, writeWeights } from "../../../shared/model/weights.js";
import { Random } from "../../../shared/random.js";

export const CLASSES = ["a", "b", "c", "d"];

/** count images whose mean brightness and a stripe depend on the class: learnable, not trivially. */
export function dataset(count: number, height: number, width: number, channels: number, seed = 5): ImageDataset {
  const rng = new Random(seed);
  const size = height * width * channels;
  const images = new Uint8Array(count * size);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const c = rng.int(CLASSES.length);
    labels[i] = c;
    for (let p = 0; p < size; p++) {
      const x = Math.floor(p / channels) % width;
      images[i * size + p] = Math.min(255, 40 * c + (x === c ? 90 : 0) + rng.int(60));
    }
  }
  return { images, labels, count, height, width, channels, classNames: CLASSES };
}

export const config = (extra: Partial<LocalTrainingConfig> = {}): LocalTrainingConfig => ({
  epochs: 2,
  batchSize: 8,
  learningRate: 0.01,
  optimizer: "adam",
  proximalMu: 0,
  seed: 3,
  ...extra,
});

/** Trains a copy of the same start twice, through tfjs and by the chain's kernels (`native`); the weights' changes and results. */
export async function both(model: tfl.LayersModel, data: ImageDataset, cfg: LocalTrainingConfig) {
  const start = initialWeights(weightSpecs(model), 11);
  const run = async (runner: "tfjs" | "auto") => {
    writeWeights(model, start);
    let result!: Awaited<ReturnType<typeof trainLocally>>;
    const profile = await tf.profile(async () => {
      result = await trainLocally(model, data, cfg, { runner });
    });
    const delta = readWeights(model).map((w, i) => w.map((v, j) => v - start[i][j]));
    return { result, delta, kernels: profile.kernels.length };
  };
  return { tfjs: await run("tfjs"), native: await run("auto") };
}

/** The largest difference between the two runs' weight changes, relative to the largest change. */
function relativeDifference(a: Float32Array[], b: Float32Array[]): number {
  let diff = 0;
  let scale = 0;
  a.forEach((w, i) =>
    w.forEach((v, j) => {
      diff = Math.max(diff, Math.abs(v - b[i][j]));
      scale = Math.max(scale, Math.abs(v));
    }),
  );
  return diff / scale;
}

export function expectSameTraining(r: Awaited<ReturnType<typeof both>>, kind: "native" | "simd") {
  // The chain's step ran no tfjs kernel per step (a handful remain for writing the weights back).
  expect(r.native.kernels).toBeLessThan(r.tfjs.kernels / 10);
  expect([r.native.result.runner, r.tfjs.result.runner]).toEqual([kind, "tfjs"]);
  expect(r.native.result.steps).toBe(r.tfjs.result.steps);
  expect(r.native.result.examples).toBe(r.tfjs.result.examples);
  expect(r.native.result.accuracy).toBe(r.tfjs.result.accuracy);
  expect(r.native.result.loss).toBeCloseTo(r.tfjs.result.loss, 4);
  expect(relativeDifference(r.native.delta, r.tfjs.delta)).toBeLessThan(1e-4);
}

/** The case both chain trainers share: `cnn` with Adam, two epochs and a last partial batch, run by `kind`'s kernels. */
export function itTrainsCnnAsTfjs(kind: "native" | "simd"): void {
  it("trains cnn as tfjs does: Adam, two epochs, a last partial batch; leaves no tensors behind", async () => {
    const model = buildModel(resolveModelSpec("cnn", [10, 10, 1], CLASSES));
    const data = dataset(37, 10, 10, 1);
    expectSameTraining(await both(model, data, config()), kind);
    const before = tf.memory().numTensors;
    await trainLocally(model, data, config());
    expect(tf.memory().numTensors).toBe(before);
  });
}
