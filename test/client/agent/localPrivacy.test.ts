import { describe, expect, it } from "vitest";
import { localEpsilon, privatizeUpdate } from "../../../client/agent/localPrivacy.js";
import { gaussianEpsilon } from "../../../shared/privacy/gaussianAccountant.js";
import { seededNormals } from "../../../shared/privacy/gaussianNoise.js";

const norm = (u: Float32Array[]) => Math.sqrt(u.reduce((s, l) => s + l.reduce((a, v) => a + v * v, 0), 0));

describe("local differential privacy", () => {
  it("clips an update to C over all its layers, keeping its direction, and leaves a smaller one as it is", () => {
    const zero = () => 0;
    const big = privatizeUpdate([Float32Array.of(3, 0), Float32Array.of(4)], { clippingNorm: 1, noiseMultiplier: 0, delta: 1e-5 }, zero);
    expect(Array.from(big[0])).toEqual([Math.fround(0.6), 0]);
    expect(Array.from(big[1])).toEqual([Math.fround(0.8)]);
    const small = privatizeUpdate([Float32Array.of(0.3, 0.4)], { clippingNorm: 1, noiseMultiplier: 0, delta: 1e-5 }, zero);
    expect(Array.from(small[0])).toEqual([Math.fround(0.3), Math.fround(0.4)]);
    const broken = privatizeUpdate([Float32Array.of(NaN, 1)], { clippingNorm: 1, noiseMultiplier: 0, delta: 1e-5 }, zero);
    expect(Array.from(broken[0])).toEqual([0, 0]);
  });

  it("adds noise of standard deviation z·C to every value", () => {
    const n = 100_000;
    const u = privatizeUpdate([new Float32Array(n).fill(1)], { clippingNorm: 2, noiseMultiplier: 1.5, delta: 1e-5 }, seededNormals(3));
    const clipped = 2 / Math.sqrt(n);
    let s = 0;
    let ss = 0;
    for (const v of u[0]) {
      s += v - clipped;
      ss += (v - clipped) ** 2;
    }
    expect(Math.sqrt(ss / n - (s / n) ** 2) / 3).toBeCloseTo(1, 1.5);
    expect(norm(u)).toBeGreaterThan(100 * 2);
  });

  it("spends, per update sent, what the Gaussian mechanism does at multiplier z/2 (one site's data moves its update by up to 2C)", () => {
    const p = { clippingNorm: 1, noiseMultiplier: 4, delta: 1e-6 };
    expect(localEpsilon(p, 7)).toBe(gaussianEpsilon(2, 7, 1e-6));
  });
});
