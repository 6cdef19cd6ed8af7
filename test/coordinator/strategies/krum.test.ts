import { describe, expect, it } from "vitest";
import { createStrategy } from "../../../coordinator/strategies/createStrategy.js";
import type { FitResult } from "../../../coordinator/strategies/strategy.js";
import { constant, expectClose, flatten } from "./helpers.js";

/**
 * Three honest clients near 1 and two outliers; every client has one value in all 10 coordinates, so the
 * squared distance between clients a and b is 10·(a − b)²:
 *   H1 = 1:   to H2 2.5, H3 2.5, O1 810,   O2 1210
 *   H2 = 1.5: to H1 2.5, H3 10,  O1 722.5, O2 1322.5
 *   H3 = 0.5: to H1 2.5, H2 10,  O1 902.5, O2 1102.5
 */
function clients(): FitResult[] {
  return [
    { weights: constant(10), numExamples: 100 }, // O1
    { weights: constant(1.5), numExamples: 3 }, // H2
    { weights: constant(-10), numExamples: 100 }, // O2
    { weights: constant(1), numExamples: 1 }, // H1
    { weights: constant(0.5), numExamples: 5 }, // H3
  ];
}

describe("krum", () => {
  it("with f = 1 scores over the n − f − 2 = 2 nearest and picks the honest centre", async () => {
    // scores: H1 = 2.5 + 2.5 = 5, H2 = 2.5 + 10 = 12.5, H3 = 12.5; outliers ≥ 722.5 + 810
    const s = createStrategy("krum", { numMalicious: 1 });
    expect(s.streaming).toBe(false);
    const results = clients();
    const next = await s.aggregate(constant(0), results);
    expect(flatten(next)).toEqual(flatten(constant(1)));
    expect(next[0]).not.toBe(results[3].weights[0]); // a copy, not the client's array
  });

  it("with f = 0 counts n − 2 = 3 neighbours, one of them an outlier", async () => {
    // scores: H1 = 2.5 + 2.5 + 810 = 815, H2 = 2.5 + 10 + 722.5 = 735, H3 = 2.5 + 10 + 902.5 = 915
    const next = await createStrategy("krum").aggregate(constant(0), clients());
    expect(flatten(next)).toEqual(flatten(constant(1.5)));
  });

  it("MultiKrum averages the m best by example count; ties go to the earlier result", async () => {
    // f = 1, m = 2: H1 (5) and H2 (12.5, before H3 with the same score) → (1·1 + 3·1.5)/4
    const next = await createStrategy("krum", { numMalicious: 1, numToKeep: 2 }).aggregate(constant(0), clients());
    expectClose(next, new Array(10).fill(1.375), 0);
  });

  it("MultiKrum with m ≥ n averages everyone", async () => {
    const next = await createStrategy("krum", { numToKeep: 9 }).aggregate(constant(0), clients());
    // (100·10 + 3·1.5 − 100·10 + 1 + 5·0.5) / 209
    expectClose(next, new Array(10).fill((4.5 + 1 + 2.5) / 209));
  });

  it("handles one and two clients", async () => {
    expect(flatten(await createStrategy("krum").aggregate(constant(0), [{ weights: constant(3), numExamples: 1 }]))).toEqual(
      flatten(constant(3)),
    );
    const two = [
      { weights: constant(3), numExamples: 1 },
      { weights: constant(4), numExamples: 1 },
    ];
    expect(flatten(await createStrategy("krum").aggregate(constant(0), two))).toEqual(flatten(constant(3)));
  });

  it("gives the same numbers through beginRound/add/finish", async () => {
    const round = createStrategy("krum", { numMalicious: 1, numToKeep: 2 }).beginRound(constant(0));
    for (const r of clients()) round.add(r);
    expect(round.finish()).toEqual(await createStrategy("krum", { numMalicious: 1, numToKeep: 2 }).aggregate(constant(0), clients()));
  });

  it("takes integer options only", () => {
    expect(() => createStrategy("krum", { numMalicious: 1.5 })).toThrow("Option numMalicious of strategy krum must be an integer ≥ 0, got 1.5");
  });
});
