import { describe, expect, it } from "vitest";
import { Random } from "../../shared/random.js";
import { jsSumOfSquares, l2Norm, sumOfSquares, sumOfSquaresKernel } from "../../shared/updateNorm.js";

function randomArray(n: number, rng: Random, scale: number): Float32Array {
  return Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale);
}

describe("update norms", () => {
  it("run natively where the addon is built (as in CI), bit for bit as the JavaScript loop", () => {
    expect(sumOfSquaresKernel()).toBe("native");
    const rng = new Random(5);
    // Odd lengths: the 16-lane loops' tails run too.
    const updates = Array.from({ length: 5 }, (_, k) => randomArray(10_007 + k, rng, 10 ** (k - 2)));
    expect(updates.map((u) => sumOfSquares(u))).toEqual(updates.map((u) => jsSumOfSquares(u)));
    // And both are Σ x²: a plain float64 loop agrees to rounding.
    for (const u of updates) {
      let plain = 0;
      for (const v of u) plain += v * v;
      expect(Math.abs(sumOfSquares(u) - plain) / plain).toBeLessThan(1e-12);
    }
    expect(l2Norm(updates)).toBe(Math.sqrt(updates.reduce((s, u) => s + jsSumOfSquares(u), 0)));
    expect(l2Norm([Float32Array.from([3]), Float32Array.from([4])])).toBe(5);
  });

  it("are non-finite exactly when a value is", () => {
    for (const sum of [sumOfSquares, jsSumOfSquares]) {
      expect(sum(Float32Array.from([3, 4, 3.4028234663852886e38]))).toBeGreaterThan(1e76);
      expect(sum(Float32Array.from([1, NaN, 2]))).toBeNaN();
      expect(sum(Float32Array.from([1, 2, 3, 4, -Infinity]))).toBe(Infinity);
    }
    expect(l2Norm([Float32Array.from([1]), Float32Array.from([NaN])])).toBeNaN();
  });
});
