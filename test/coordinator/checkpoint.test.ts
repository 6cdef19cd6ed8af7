import path from "node:path";
import { readdir, writeFile } from "node:fs/promises";
import { beforeAll, describe, expect, it } from "vitest";
import { readCheckpoint, writeCheckpoint } from "../../coordinator/checkpoint.js";
import { createStrategy } from "../../coordinator/strategies/createStrategy.js";
import type { FitResult, Strategy } from "../../coordinator/strategies/strategy.js";
import { initBackend } from "../../shared/backends/selectBackend.js";
import { buildModel } from "../../shared/model/architectures.js";
import { resolveModelSpec } from "../../shared/model/modelSpec.js";
import { initialWeights, readWeights, weightSpecs, writeWeights } from "../../shared/model/weights.js";
import { Random } from "../../shared/random.js";
import { tempDir } from "../helpers/cli.js";

beforeAll(async () => {
  await initBackend("cpu");
});

const rng = new Random(3);
const current = [Float32Array.from({ length: 40 }, () => rng.normal()), Float32Array.from({ length: 7 }, () => rng.normal())];
const roundResults = (r: number): FitResult[] =>
  [1, 2, 3].map((k) => ({ weights: current.map((l) => l.map((v, j) => v + Math.sin(r * 7 + k * 3 + j) * 0.1)), numExamples: 10 * k }));

async function runRounds(s: Strategy, from: number, to: number, start = current): Promise<Float32Array[]> {
  let w = start;
  for (let r = from; r <= to; r++) w = await s.aggregate(w, roundResults(r));
  return w;
}

describe("strategy state across a restart", () => {
  for (const [name, opts] of [["fedavgm", { serverMomentum: 0.9 }], ["fedadam", {}], ["fedyogi", {}], ["fedadagrad", {}]] as const) {
    it(`${name}: a strategy restored from exportState() continues exactly as the original`, async () => {
      const original = createStrategy(name, opts);
      const w2 = await runRounds(original, 1, 2);
      const state = original.exportState!()!;
      const restored = createStrategy(name, opts);
      restored.importState!(state);
      const a = await runRounds(original, 3, 4, w2);
      const b = await runRounds(restored, 3, 4, w2);
      expect(b).toEqual(a);
      // Without the state the continuation differs: the state is what carries it.
      const fresh = await runRounds(createStrategy(name, opts), 3, 4, w2);
      expect(fresh).not.toEqual(a);
    });
  }

  it("stateless strategies export nothing", () => {
    expect(createStrategy("fedavg").exportState).toBeUndefined();
    expect(createStrategy("fedavgm").exportState!()).toBeNull(); // before its first round
  });
});

describe("checkpoints", () => {
  const spec = resolveModelSpec("cnn", [8, 8, 1], ["a", "b"]);

  it("carry the model, the rounds and the strategy state, and keep only the latest files", async () => {
    const model = buildModel(spec);
    writeWeights(model, initialWeights(weightSpecs(model), 1));
    const dir = await tempDir();
    const s = createStrategy("fedadam");
    await runRounds(s, 1, 2);
    const state = s.exportState!()!;
    await writeCheckpoint(dir, model, spec, { strategy: "fedadam", modelVersion: 2, rounds: [], strategyState: state });
    await writeCheckpoint(dir, model, spec, { federationId: "fed-1", strategy: "fedadam", modelVersion: 3, rounds: [], strategyState: state });
    expect((await readdir(dir)).sort()).toEqual(["model-v3", "state.json", "strategy-v3.bin"]);
    const c = (await readCheckpoint(dir, spec))!;
    expect(c.federationId).toBe("fed-1");
    expect(c.modelVersion).toBe(3);
    expect(c.strategy).toBe("fedadam");
    expect(c.strategyState!.scalars).toEqual({ rounds: 2 });
    expect(c.strategyState!.arrays).toEqual(state.arrays);
    readWeights(model).forEach((w, i) => expect(c.weights[i]).toEqual(w));
  });

  it("a truncated strategy state file is a one-line error, not a silent restart", async () => {
    const model = buildModel(spec);
    const dir = await tempDir();
    const s = createStrategy("fedavgm", { serverMomentum: 0.5 });
    await runRounds(s, 1, 1);
    await writeCheckpoint(dir, model, spec, { strategy: "fedavgm", modelVersion: 1, rounds: [], strategyState: s.exportState!() });
    await writeFile(path.join(dir, "strategy-v1.bin"), Buffer.alloc(12));
    await expect(readCheckpoint(dir, spec)).rejects.toThrow(/^checkpoint .*: strategy-v1\.bin has 12 bytes, its layout needs 188$/);
  });
});
