/** Library users import from the package entry (the compiled dist/index.js, via package.json exports). */
import { describe, expect, it } from "vitest";
import { createStrategy, STRATEGY_NAMES } from "fedfusion";

describe("public API", () => {
  it("createStrategy from the package entry aggregates as documented", async () => {
    expect(STRATEGY_NAMES).toContain("fedavg");
    const s = createStrategy("fedavg");
    const next = await s.aggregate([new Float32Array([0, 0])], [
      { weights: [new Float32Array([1, 2])], numExamples: 1 },
      { weights: [new Float32Array([3, 6])], numExamples: 3 },
    ]);
    expect(Array.from(next[0])).toEqual([2.5, 5]);
    const adam = createStrategy("fedadam", { eta: 0.1 });
    const r1 = await adam.aggregate([new Float32Array([1])], [{ weights: [new Float32Array([2])], numExamples: 1 }]);
    expect(r1[0][0]).toBeGreaterThan(1);
  });

  it("names an unknown strategy and lists the valid ones", () => {
    expect(() => createStrategy("fedsgd")).toThrow(/fedsgd.*fedavg, fedavgm/);
  });
});
