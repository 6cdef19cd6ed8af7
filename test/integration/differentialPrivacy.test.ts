/**
 * Differential privacy end to end. Central: `--strategy dpfedavg` clips, averages and adds noise on the
 * coordinator, logs and records the (ε, δ) spent after every round, and the noise costs what it should: a
 * little at a small noise multiplier, the model at a huge one. Local: a site's client clips and noises its
 * own updates before they leave it, and reports what it spent.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { gaussianEpsilon } from "../../shared/privacy/gaussianAccountant.js";
import { allExited, runCli, startCli, tempDir } from "../helpers/cli.js";

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

  it("local: a site clips and noises its own updates before they leave it, and reports the privacy it spent", async () => {
    const parts = path.join(dir, "parts");
    expect((await runCli(["partition", "--clients", "1", "--samples", "200", "--test-samples", "100", "--out", parts])).code).toBe(0);
    // The coordinator refuses any update above 0.0101: a clipped one (≤ 0.01) passes, a noisy one cannot.
    const site = async (noise: number) => {
      const coordinator = startCli(["coordinator", "--port", "0", "--host", "127.0.0.1", "--min-clients", "1", "--rounds", "2", "--max-update-norm", "0.0101", "--test-data", path.join(parts, "test"), "--backend", "wasm"]);
      const [, port] = await coordinator.waitFor(/listening on 127\.0\.0\.1:(\d+)/);
      const client = startCli(["client", "--coordinator", `127.0.0.1:${port}`, "--data", path.join(parts, "client-1"), "--name", "site-a", "--backend", "wasm", "--privacy-clip", "0.01", "--privacy-noise", String(noise)]);
      const results = await allExited([coordinator, client]);
      for (const r of results) expect(r.code, r.stdout + r.stderr).toBe(0);
      return client.output();
    };
    const clippedOnly = await site(0);
    expect(clippedOnly).toMatch(/local differential privacy: each update clipped to L2 norm 0\.01, noise multiplier 0/);
    expect(clippedOnly.match(/update accepted; privacy spent ε=Infinity/g)).toHaveLength(2);
    const noisy = await site(2);
    expect(noisy).toMatch(/round 1: .*update rejected \(norm: .*\); privacy spent ε=(\S+) δ=0\.00001 over 1 updates/);
    const spent = noisy.match(/round 2: .*privacy spent ε=(\S+) δ=0\.00001 over 2 updates/);
    expect(Number(spent?.[1])).toBeCloseTo(Number(gaussianEpsilon(1, 2, 1e-5).toPrecision(3)), 6);
  });

  it("local, in a simulation: every client's noise is seeded, so the run reproduces", async () => {
    const run = () => runCli(["simulate", "--clients", "3", "--samples", "100", "--rounds", "2", "--test-samples", "200", "--backend", "wasm", "--privacy-clip", "1", "--privacy-noise", "0.01"]);
    const [a, b] = [await run(), await run()];
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/each client clips its updates to L2 norm 1 and adds noise \(multiplier 0\.01\): ε=\S+ \(δ=0\.00001\) per client over 2 rounds/);
    const accuracy = (r: { stdout: string }) => r.stdout.match(/final test accuracy: (\S+)/)?.[1];
    expect(accuracy(a)).toBeDefined();
    expect(accuracy(b)).toBe(accuracy(a));
  });
});
