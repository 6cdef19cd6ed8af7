/**
 * Partial federation: starting from a pretrained model, `--federate head` trains and exchanges the
 * classifier only. The frozen layers come back unchanged and the bytes on the wire shrink accordingly.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../shared/backends/selectBackend.js";
import { loadModel } from "../../shared/model/modelStore.js";
import { readWeights, weightSpecs } from "../../shared/model/weights.js";
import { runCli, tempDir } from "../helpers/cli.js";

describe("partial federation", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
    await initBackend("wasm");
    const pre = await runCli(["train", "--model", "large", "--samples", "600", "--test-samples", "200", "--epochs", "1", "--backend", "wasm", "--out", path.join(dir, "pre")]);
    expect(pre.code, pre.stderr).toBe(0);
  });

  async function run(mode: string) {
    const out = path.join(dir, mode);
    const r = await runCli([
      "simulate", "--model", "large", "--init-model", path.join(dir, "pre/model"), "--federate", mode,
      "--clients", "3", "--samples", "60", "--rounds", "2", "--test-samples", "200", "--backend", "wasm", "--out", out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    return { metrics: JSON.parse(await readFile(path.join(out, "metrics.json"), "utf8")), model: (await loadModel(path.join(out, "model"))).model };
  }

  it("--federate head moves only the classifier and leaves the rest as pretrained", async () => {
    const full = await run("all");
    const head = await run("head");
    const pre = (await loadModel(path.join(dir, "pre/model"))).model;
    const specs = weightSpecs(pre);
    const before = readWeights(pre);
    const after = readWeights(head.model);
    specs.forEach((s, i) => {
      const same = Buffer.from(before[i].buffer).equals(Buffer.from(after[i].buffer));
      expect(same, s.name).toBe(!s.name.startsWith("classifier/"));
    });
    const classifierBytes = specs.filter((s) => s.name.startsWith("classifier/")).reduce((n, s) => n + 4 * s.shape.reduce((a, b) => a * b, 1), 0);
    for (const r of head.metrics.rounds) {
      expect(r.bytesUp).toBeGreaterThanOrEqual(3 * classifierBytes);
      expect(r.bytesUp).toBeLessThan(3 * classifierBytes * 1.2);
    }
    // Round 1 downloads the whole model (clients need the frozen layers once), later rounds only the head.
    expect(head.metrics.rounds[1].bytesDown).toBeLessThan(full.metrics.rounds[1].bytesDown / 50);
    expect(head.metrics.rounds[0].bytesUp).toBeLessThan(full.metrics.rounds[0].bytesUp / 50);
  });
});
