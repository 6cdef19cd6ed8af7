import { describe, expect, it } from "vitest";
import { foldKernels, jsFoldKernels } from "../../coordinator/foldKernels.js";
import { Random } from "../../shared/random.js";

function randomArray(n: number, rng: Random, scale: number): Float32Array {
  return Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale);
}

describe("aggregation fold kernels", () => {
  it("run natively where the addon is built (as in CI)", () => {
    expect(foldKernels().name).toBe("native");
  });

  it("native and JavaScript folds give bit-identical sums and means", () => {
    const native = foldKernels();
    const rng = new Random(5);
    // Odd length: the 4-way unrolled loops' tails run too.
    const n = 10_007;
    const base = randomArray(n, rng, 1);
    const updates = Array.from({ length: 5 }, (_, k) => randomArray(n, rng, 10 ** (k - 2)));
    const weights = [3, 1e-3, 250, 7.5, 1];
    const run = (k: typeof native) => {
      const accD = new Float64Array(n);
      const accW = new Float64Array(n);
      updates.forEach((u, i) => {
        k.foldDelta(accD, u, weights[i], i === 0);
        const full = u.map((v, j) => v + base[j]);
        k.foldWeights(accW, full, base, weights[i], i === 0);
      });
      const total = weights.reduce((a, b) => a + b, 0);
      const meanD = new Float32Array(n);
      const meanW = new Float32Array(n);
      k.finishMean(accD, base, total, meanD);
      k.finishMean(accW, base, total, meanW);
      return { accD, accW, meanD, meanW };
    };
    const a = run(native);
    const b = run(jsFoldKernels);
    expect(a.accD).toEqual(b.accD);
    expect(a.accW).toEqual(b.accW);
    expect(a.meanD).toEqual(b.meanD);
    expect(a.meanW).toEqual(b.meanW);
    // And they are right: the first value by hand.
    const want = weights.reduce((s, w, i) => s + w * updates[i][0], 0);
    expect(a.accD[0]).toBeCloseTo(want, 9);
  });

  it("rejects mismatched lengths and wrong array types instead of overrunning", () => {
    const k = foldKernels();
    expect(() => k.foldDelta(new Float64Array(3), new Float32Array(4), 1, true)).toThrow(RangeError);
    expect(() => k.finishMean(new Float64Array(3), new Float32Array(3), 1, new Float32Array(2))).toThrow(RangeError);
    expect(() => k.foldDelta(new Float32Array(3) as unknown as Float64Array, new Float32Array(3), 1, true)).toThrow(/Float64Array/);
  });
});
