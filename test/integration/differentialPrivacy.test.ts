/**
 * DP-FedAvg end to end: `fedfusion simulate --strategy dpfedavg` clips, averages and adds noise on the
 * coordinator, logs and records the (ε, δ) spent after every round, and the noise costs what it should:
 * a little at a small noise multiplier, the model at a huge one.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { gaussianEpsilon } from "../../coordinator/privacy/gaussianAccountant.js";
import { runCli, tempDir } from "../helpers/cli.js";

describe("differential privacy (dpfedavg)", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
  });

  const run = async (noiseMultiplier: number) => {
    const out = path.join(dir, `z${noiseMultiplier}`);
    const r = await runCli([
      "simulate", "--clients", "4", "--samples", "300", "--rounds", "3", "--test-samples", "500", "--backend", "wasm", "--out", out,
      "--strategy", "dpfedavg", "--strategy-opt", "clippingNorm=2", "--strategy-opt", `noiseMultiplier=${noiseMultiplier}`, "--strategy-opt", "seed=11",
    ]);
    expect(r.code, r.stderr).toBe(0);
    return { stdout: r.stdout, metrics: JSON.parse(await readFile(path.join(out, "metrics.json"), "utf8")) };
  };

  it("records and logs the privacy spent after every round, and learns at a small noise multiplier but not at a huge one", async () => {
    const small = await run(0.05);
    const huge = await run(50);
    const epsilons = small.metrics.rounds.map((r: { privacy: { epsilon: number; delta: number } }) => r.privacy);
    expect(epsilons).toEqual([1, 2, 3].map((t) => ({ epsilon: gaussianEpsilon(0.05, t, 1e-5), delta: 1e-5 })));
    expect(small.stdout).toMatch(new RegExp(`round 3/3 .* privacy ε=${gaussianEpsilon(0.05, 3, 1e-5).toPrecision(3)} δ=0\\.00001`));
    expect(huge.metrics.rounds[2].privacy.epsilon).toBeLessThan(0.2);
    const accuracy = (m: { rounds: { accuracy: number }[] }) => m.rounds[2].accuracy;
    expect(accuracy(small.metrics)).toBeGreaterThan(0.5);
    expect(accuracy(huge.metrics)).toBeLessThan(0.3);
  });
});
