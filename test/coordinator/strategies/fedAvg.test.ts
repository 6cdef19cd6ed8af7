import { describe, expect, it } from "vitest";
import { createStrategy } from "../../../coordinator/strategies/createStrategy.js";
import { Random } from "../../../shared/random.js";
import { constant, expectClose, fit, flatten, model } from "./helpers.js";

const A = [1, 2, 3, 4, 5, 6, 10, 20, 30, 40];
const B = [5, 6, 7, 8, 9, 10, 0, 0, 0, -40];

describe("fedavg", () => {
  it("weights each client by its example count, layer by layer", async () => {
    // (1·A + 3·B) / 4
    const next = await createStrategy("fedavg").aggregate(constant(0), [fit(A, 1), fit(B, 3)]);
    expectClose(next, [4, 5, 6, 7, 8, 9, 2.5, 5, 7.5, -20], 0);
  });

  it("is streaming and gives the same numbers fed one result at a time", async () => {
    const s = createStrategy("fedavg");
    expect(s.streaming).toBe(true);
    const round = s.beginRound(constant(0));
    round.add(fit(A, 1));
    expect(round.count).toBe(1);
    round.add(fit(B, 3));
    expect(round.count).toBe(2);
    expect(round.finish()).toEqual(await createStrategy("fedavg").aggregate(constant(0), [fit(A, 1), fit(B, 3)]));
  });

  it("does not depend on the arrival order", async () => {
    const rng = new Random(7);
    const results = Array.from({ length: 12 }, (_, i) => ({
      weights: [Float32Array.from({ length: 300 }, () => rng.normal()), Float32Array.from({ length: 50 }, () => rng.normal() * 100)],
      numExamples: 1 + rng.int(5000) + i,
    }));
    const current = [new Float32Array(300), new Float32Array(50)];
    const forward = await createStrategy("fedavg").aggregate(current, results);
    const shuffled = rng.shuffle(results.slice()) as typeof results;
    const backward = await createStrategy("fedavg").aggregate(current, shuffled);
    expect(flatten(backward)).toEqual(flatten(forward));
  });

  it("returns fresh arrays", async () => {
    const only = fit(A, 2);
    const next = await createStrategy("fedavg").aggregate(constant(0), [only]);
    expect(next[0]).not.toBe(only.weights[0]);
    expect(flatten(next)).toEqual(A);
  });

  it("rejects an empty round, mismatched layers and a zero example total", async () => {
    await expect(createStrategy("fedavg").aggregate(constant(0), [])).rejects.toThrow(/no results/);
    const round = createStrategy("fedavg").beginRound(constant(0));
    expect(() => round.add({ weights: [new Float32Array(6)], numExamples: 1 })).toThrow(/1 layers, expected 2/);
    expect(() => round.add({ weights: [new Float32Array(6), new Float32Array(5)], numExamples: 1 })).toThrow(
      /layer 1 has 5 values, expected 4/,
    );
    expect(() => round.add(fit(A, -1))).toThrow(/numExamples -1/);
    expect(() => round.add(fit(A, Number.NaN))).toThrow(/numExamples NaN/);
    expect(round.count).toBe(0);
    await expect(createStrategy("fedavg").aggregate(constant(0), [fit(A, 0), fit(B, 0)])).rejects.toThrow(/sum to 0/);
  });

  it("refuses to add to or finish a round twice", () => {
    const round = createStrategy("fedavg").beginRound(constant(0));
    round.add(fit(A, 1));
    round.finish();
    expect(() => round.add(fit(B, 1))).toThrow(/after the round was finished/);
    expect(() => round.finish()).toThrow(/already finished/);
  });
});

describe("fedprox", () => {
  it("aggregates like fedavg and exposes mu for the clients", async () => {
    const s = createStrategy("fedprox", { mu: 0.01 });
    expect(s.name).toBe("fedprox");
    expect(s.proximalMu).toBe(0.01);
    expect(s.streaming).toBe(true);
    const next = await s.aggregate(model(A), [fit(A, 1), fit(B, 3)]);
    expectClose(next, [4, 5, 6, 7, 8, 9, 2.5, 5, 7.5, -20], 0);
    expect(createStrategy("fedavg").proximalMu).toBeUndefined();
  });
});
