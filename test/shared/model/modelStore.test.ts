import path from "node:path";
import { writeFile } from "node:fs/promises";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../../shared/backends/selectBackend.js";
import { buildModel } from "../../../shared/model/architectures.js";
import { resolveModelSpec } from "../../../shared/model/modelSpec.js";
import { loadModel, saveModel } from "../../../shared/model/modelStore.js";
import { initialWeights, readWeights, weightSpecs, writeWeights } from "../../../shared/model/weights.js";
import { tempDir } from "../../helpers/cli.js";

beforeAll(async () => {
  await initBackend("wasm");
});

describe("saved models", () => {
  for (const name of ["cnn", "large", "fusion-s"]) {
    it(`${name}: saves and loads back with identical weights and predictions`, async () => {
      const spec = resolveModelSpec(name, [28, 28, 1], ["a", "b", "c", "d"]);
      const model = buildModel(spec);
      writeWeights(model, initialWeights(weightSpecs(model), 7));
      const dir = path.join(await tempDir(), "model");
      await saveModel(model, dir, { spec, modelVersion: 3 });
      const { model: loaded, meta } = await loadModel(dir);
      expect(meta.spec).toEqual(spec);
      expect(meta.modelVersion).toBe(3);
      expect(weightSpecs(loaded)).toEqual(weightSpecs(model));
      readWeights(loaded).forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(readWeights(model)[i])));
      const x = tf.randomUniform([5, 28, 28, 1], 0, 1, "float32", 1);
      const a = (model.predict(x) as tf.Tensor).dataSync();
      const b = (loaded.predict(x) as tf.Tensor).dataSync();
      expect(Array.from(b)).toEqual(Array.from(a));
    });
  }

  it("reports a missing or damaged model directory in one line", async () => {
    const dir = await tempDir();
    await expect(loadModel(dir)).rejects.toThrow(`no model at ${dir}: model.json is missing`);
    await writeFile(path.join(dir, "model.json"), "{not json");
    await writeFile(path.join(dir, "fedfusion.json"), "{}");
    await expect(loadModel(dir)).rejects.toThrow(/holds invalid JSON/);
  });

  it("seeded initial weights are reproducible and differ between seeds", () => {
    const model = buildModel(resolveModelSpec("fusion-s", [28, 28, 1], ["a", "b"]));
    const specs = weightSpecs(model);
    const a = initialWeights(specs, 1);
    expect(initialWeights(specs, 1)).toEqual(a);
    expect(initialWeights(specs, 2)[0]).not.toEqual(a[0]);
    const gamma = specs.findIndex((s) => s.name.endsWith("ln1_gamma"));
    expect(Array.from(a[gamma]).every((v) => v === 1)).toBe(true);
  });
});
