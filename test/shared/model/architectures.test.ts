import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { loadBuiltinDataset } from "../../../client/data/builtinDatasets.js";
import { trainLocally } from "../../../client/training/localTrainer.js";
import { initBackend } from "../../../shared/backends/selectBackend.js";
import { subset } from "../../../shared/data/imageDataset.js";
import { buildModel, stemDepth } from "../../../shared/model/architectures.js";
import { FUSION_PRESETS, resolveModelSpec } from "../../../shared/model/modelSpec.js";
import { initialWeights, parameterCount, weightSpecs, writeWeights } from "../../../shared/model/weights.js";

beforeAll(async () => {
  await initBackend("wasm");
});

describe("model family", () => {
  it("has the brief's baselines and the fusion presets, with stable weight names", () => {
    const classes = Array.from({ length: 10 }, (_, i) => String(i));
    const count = (name: string) => parameterCount(weightSpecs(buildModel(resolveModelSpec(name, [28, 28, 1], classes))));
    // cnn: conv 3·3·1·32+32, dense 13·13·32·10+10
    expect(count("cnn")).toBe(320 + 54_090);
    expect(weightSpecs(buildModel(resolveModelSpec("cnn", [28, 28, 1], classes))).map((s) => s.name)).toEqual([
      "conv1/kernel", "conv1/bias", "classifier/kernel", "classifier/bias",
    ]);
    expect(count("fusion-s")).toBeLessThan(count("fusion-m"));
    expect(count("fusion-m")).toBeLessThan(count("fusion-l"));
  });

  for (const shape of [[28, 28, 1], [64, 48, 3], [224, 224, 3]] as [number, number, number][]) {
    it(`fusion-s takes ${shape.join("x")} input and keeps the token count small`, () => {
      const spec = resolveModelSpec("fusion-s", shape, ["a", "b", "c"]);
      const depth = stemDepth(FUSION_PRESETS["fusion-s"], shape);
      const side = (d: number) => Math.floor(d / 2 ** depth);
      expect(side(shape[0]) * side(shape[1])).toBeLessThanOrEqual(64);
      const model = buildModel(spec);
      const y = tf.tidy(() => (model.predict(tf.zeros([2, ...shape])) as tf.Tensor).arraySync() as number[][]);
      expect(y).toHaveLength(2);
      for (const row of y) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    });
  }

  it("fusion-s learns on real images: training loss falls and accuracy rises above chance", async () => {
    const { train } = await loadBuiltinDataset("fashion-mnist");
    const data = subset(train, Uint32Array.from({ length: 128 }, (_, i) => i * 421));
    const model = buildModel(resolveModelSpec("fusion-s", [28, 28, 1], [...train.classNames]));
    writeWeights(model, initialWeights(weightSpecs(model), 3));
    const cfg = { epochs: 1, batchSize: 32, learningRate: 0.002, optimizer: "adam" as const, proximalMu: 0, seed: 1 };
    const first = await trainLocally(model, data, cfg);
    let last = first;
    for (let i = 0; i < 3; i++) last = await trainLocally(model, data, { ...cfg, seed: i + 2 });
    expect(last.loss).toBeLessThan(first.loss * 0.8);
    expect(last.accuracy).toBeGreaterThan(0.3);
  });
});
