/**
 * Byzantine robustness end to end: 10 simulated clients, 2 of which send tampered updates. FedAvg is
 * wrecked by ×100 updates; Krum, the coordinate-wise median and the trimmed mean stay near the clean run.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runCli, tempDir } from "../helpers/cli.js";

let dir: string;
const accuracy: Record<string, number> = {};

async function simulate(name: string, args: string[]): Promise<number> {
  const out = path.join(dir, name);
  const r = await runCli([
    "simulate", "--clients", "10", "--samples", "150", "--rounds", "3", "--test-samples", "1000", "--backend", "wasm", "--seed", "7", "--out", out, ...args,
  ]);
  expect(r.code, r.stderr).toBe(0);
  const metrics = JSON.parse(await readFile(path.join(out, "metrics.json"), "utf8"));
  // A global model driven to non-finite outputs records null: as good as no model at all.
  accuracy[name] = metrics.final.accuracy ?? 0;
  return accuracy[name];
}

describe("robust aggregation against 2 Byzantine clients of 10", () => {
  let clean = 0;
  beforeAll(async () => {
    dir = await tempDir();
    clean = await simulate("fedavg-clean", ["--strategy", "fedavg"]);
  });

  it("fedavg degrades under ×100 updates", async () => {
    const attacked = await simulate("fedavg-scale100", ["--strategy", "fedavg", "--byzantine", "2", "--attack", "scale:100"]);
    expect(clean).toBeGreaterThan(0.5);
    expect(attacked).toBeLessThan(clean - 0.15);
  });

  for (const [name, args] of [
    ["krum", ["--strategy", "krum", "--strategy-opt", "numMalicious=2"]],
    ["fedmedian", ["--strategy", "fedmedian"]],
    ["fedtrimmedavg", ["--strategy", "fedtrimmedavg", "--strategy-opt", "beta=0.2"]],
  ] as const) {
    it(`${name} stays near the clean run under ×100 updates`, async () => {
      const attacked = await simulate(`${name}-scale100`, [...args, "--byzantine", "2", "--attack", "scale:100"]);
      expect(attacked).toBeGreaterThan(clean - 0.08);
    });
  }

  it("fedmedian stays near the clean run under sign-flipped updates", async () => {
    const attacked = await simulate("fedmedian-signflip", ["--strategy", "fedmedian", "--byzantine", "2", "--attack", "signflip:4"]);
    expect(attacked).toBeGreaterThan(clean - 0.08);
    console.log("final accuracies:", JSON.stringify(accuracy));
  });
});
