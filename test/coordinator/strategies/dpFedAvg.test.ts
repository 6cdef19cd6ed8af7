import { describe, expect, it } from "vitest";
import { createStrategy } from "../../../coordinator/strategies/createStrategy.js";
import { gaussianEpsilon } from "../../../shared/privacy/gaussianAccountant.js";

const dp = (o: Record<string, number>) => createStrategy("dpfedavg", o);
const aggregate = (o: Record<string, number>, current: Float32Array[], deltas: { delta: Float32Array[]; numExamples: number }[]) => {
  const round = dp(o).beginRound(current);
  for (const d of deltas) round.addDelta({ delta: d.delta.map((l) => l.slice()), numExamples: d.numExamples });
  return round.finish();
};

describe("dpfedavg", () => {
  it("clips each update to C over all its layers and averages them with equal weights", () => {
    const current = [new Float32Array([1, 1]), new Float32Array([1])];
    const big = [new Float32Array([6, 0]), new Float32Array([8])]; // norm 10 → scaled to 1: (0.6, 0, 0.8)
    const small = [new Float32Array([0.1, 0]), new Float32Array([0])]; // norm 0.1 ≤ C: as it is
    // Example counts do not weigh: a large site cannot pull the mean further than C/m.
    const [a, b] = aggregate({ clippingNorm: 1, noiseMultiplier: 0 }, current, [{ delta: big, numExamples: 1000 }, { delta: small, numExamples: 1 }]);
    expect(a[0]).toBeCloseTo(1 + (0.6 + 0.1) / 2, 6);
    expect(a[1]).toBeCloseTo(1, 6);
    expect(b[0]).toBeCloseTo(1 + 0.8 / 2, 6);
  });

  it("counts a non-finite update as a site that sent nothing", () => {
    const current = [new Float32Array([0, 0])];
    const [w] = aggregate({ clippingNorm: 1, noiseMultiplier: 0 }, current, [
      { delta: [new Float32Array([NaN, 1])], numExamples: 5 },
      { delta: [new Float32Array([0.5, 0])], numExamples: 5 },
    ]);
    expect(Array.from(w)).toEqual([0.25, 0]);
  });

  it("adds Gaussian noise of standard deviation z·C/m to every value, reproducibly from a seed, unpredictably without", () => {
    const n = 200_000;
    const current = [new Float32Array(n)];
    const deltas = [1, 2, 3, 4].map(() => ({ delta: [new Float32Array(n)], numExamples: 1 }));
    const o = { clippingNorm: 2, noiseMultiplier: 1.5, seed: 7 };
    const [w] = aggregate(o, current, deltas);
    let sum = 0;
    let squares = 0;
    for (const v of w) {
      sum += v;
      squares += v * v;
    }
    const mean = sum / n;
    const std = Math.sqrt(squares / n - mean * mean);
    expect(std / ((1.5 * 2) / 4)).toBeCloseTo(1, 1.5); // within ~3%
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Array.from(aggregate(o, current, deltas)[0].subarray(0, 5))).toEqual(Array.from(w.subarray(0, 5)));
    const [x] = aggregate({ clippingNorm: 2, noiseMultiplier: 1.5 }, current, deltas);
    const [y] = aggregate({ clippingNorm: 2, noiseMultiplier: 1.5 }, current, deltas);
    expect(x.subarray(0, 100)).not.toEqual(y.subarray(0, 100));
  });

  it("draws a seeded round's noise from the round: a run resumed from its state goes on as the uninterrupted one", async () => {
    const o = { clippingNorm: 1, noiseMultiplier: 1, seed: 5 };
    const start = [new Float32Array(50)];
    const results = [{ weights: [new Float32Array(50).fill(0.01)], numExamples: 3 }];
    const uninterrupted = dp(o);
    let a = start;
    for (let r = 0; r < 3; r++) a = await uninterrupted.aggregate(a, results);
    const first = dp(o);
    let b = start;
    for (let r = 0; r < 2; r++) b = await first.aggregate(b, results);
    const resumed = dp(o);
    expect(dp(o).exportState!()).toBeNull();
    resumed.importState!(first.exportState!()!);
    b = await resumed.aggregate(b, results);
    expect(b).toEqual(a);
    expect(() => resumed.importState!({ scalars: {}, arrays: {} })).toThrow("dpfedavg: the saved state has no valid round count (got undefined)");
  });

  it("reports the (ε, δ) spent, and refuses options it cannot honour", () => {
    const s = dp({ clippingNorm: 1, noiseMultiplier: 1.1, delta: 1e-6 });
    expect(s.privacySpent!(10)).toEqual({ epsilon: gaussianEpsilon(1.1, 10, 1e-6), delta: 1e-6 });
    expect(() => dp({ noiseMultiplier: 1 })).toThrow(/clippingNorm/);
    expect(() => dp({ clippingNorm: 0, noiseMultiplier: 1 })).toThrow(/clippingNorm/);
    expect(() => dp({ clippingNorm: 1, noiseMultiplier: 1, delta: 1 })).toThrow(/delta/);
  });
});

describe("the Gaussian mechanism's accountant", () => {
  it("gives the best RDP order's bound: the closed form matches a search over orders", () => {
    for (const [z, rounds, delta] of [[1.1, 10, 1e-5], [0.7, 100, 1e-6], [4, 1, 1e-5], [2, 1000, 1e-3]]) {
      let best = Infinity;
      for (let alpha = 1.0001; alpha < 5000; alpha *= 1.0005) best = Math.min(best, (rounds * alpha) / (2 * z * z) + Math.log(1 / delta) / (alpha - 1));
      expect(gaussianEpsilon(z, rounds, delta)).toBeCloseTo(best, 4);
    }
  });

  it("grows with rounds, shrinks with noise, and is infinite without noise", () => {
    expect(gaussianEpsilon(1, 20, 1e-5)).toBeGreaterThan(gaussianEpsilon(1, 10, 1e-5));
    expect(gaussianEpsilon(2, 10, 1e-5)).toBeLessThan(gaussianEpsilon(1, 10, 1e-5));
    expect(gaussianEpsilon(0, 1, 1e-5)).toBe(Infinity);
    expect(gaussianEpsilon(1, 0, 1e-5)).toBe(0);
    expect(() => gaussianEpsilon(1, 1, 0)).toThrow("delta must be in (0, 1), got 0");
  });
});
