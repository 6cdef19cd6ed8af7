import { describe, expect, it } from "vitest";
import { createStrategy } from "../../../coordinator/strategies/createStrategy.js";
import type { Strategy } from "../../../coordinator/strategies/strategy.js";
import { add, expectClose, fit, flatten, model } from "./helpers.js";

/** Starting weights and per-coordinate scale of the pseudo-gradient Δ (coordinate 0: x0 = 1, scale 1). */
const X0 = [1, 0, -1, 2, 0.5, -0.25, 3, 1, -2, 0];
const S = [1, -2, 0.5, 3, -1, 0.25, 4, -0.5, 2, 10];
const E = S.map((_, k) => 0.0625 * ((k % 3) + 1));

/**
 * Runs one round per entry of `ds`: the clients send current + S·d (client A, 1 example: + 3e; client B,
 * 3 examples: − e, so the example-weighted mean is current + S·d). Returns the weights after each round.
 */
async function run(strategy: Strategy, ds: number[]): Promise<Float32Array[][]> {
  let current = model(X0);
  const out: Float32Array[][] = [];
  for (const d of ds) {
    const target = add(flatten(current), S, d);
    current = await strategy.aggregate(current, [fit(add(target, E, 3), 1), fit(add(target, E, -1), 3)]);
    out.push(current);
  }
  return out;
}

interface Hyper {
  eta: number;
  beta1: number;
  beta2: number;
  tau: number;
}

/** Independent scalar re-statement of the update rules, one coordinate, rounds t = 1, 2, …; returns x after each. */
function reference(kind: "adam" | "yogi" | "adagrad", h: Hyper, x0: number, deltas: number[]): number[] {
  let x = x0;
  let m = 0;
  let v = 0;
  return deltas.map((d, i) => {
    const t = i + 1;
    if (kind === "adagrad") {
      m = d;
      v = v + d * d;
    } else {
      m = h.beta1 * m + (1 - h.beta1) * d;
      v = kind === "adam" ? h.beta2 * v + (1 - h.beta2) * d * d : v - (1 - h.beta2) * d * d * Math.sign(v - d * d);
    }
    const rate = kind === "adam" ? (h.eta * Math.sqrt(1 - h.beta2 ** (t + 1))) / (1 - h.beta1 ** (t + 1)) : h.eta;
    x = x + (rate * m) / (Math.sqrt(v) + h.tau);
    return x;
  });
}

function expectMatchesReference(xs: Float32Array[][], kind: "adam" | "yogi" | "adagrad", h: Hyper, ds: number[]) {
  const perCoordinate = X0.map((x0, k) => reference(kind, h, x0, ds.map((d) => S[k] * d)));
  xs.forEach((x, round) => expectClose(x, perCoordinate.map((traj) => traj[round]), 1e-5));
}

const DS = [0.5, -0.25, 0.1];

describe("fedadam", () => {
  const h = { eta: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-9 };

  it("follows Adam with the bias-corrected rate, from zero moments", async () => {
    const xs = await run(createStrategy("fedadam"), DS);
    // Coordinate 0 (x0 = 1, Δ = 0.5, −0.25, 0.1), by hand:
    // r1: m = 0.05, v = 0.01·0.25 = 0.0025, η1 = 0.1·√(1 − 0.99²)/(1 − 0.9²) = 0.0742460, x = 1 + η1·0.05/0.05 = 1.0742460
    // r2: m = 0.045 − 0.025 = 0.02, v = 0.002475 + 0.000625 = 0.0031, η2 = 0.1·√(1 − 0.99³)/(1 − 0.9³) = 0.0635940,
    //     x = 1.0742460 + 0.0635940·0.02/√0.0031 = 1.0970896
    // r3: m = 0.018 + 0.01 = 0.028, v = 0.003069 + 0.0001 = 0.003169, η3 = 0.0577215, x = 1.0970896 + 0.0287101 = 1.1257997
    expect(xs.map((x) => x[0][0])).toEqual([
      expect.closeTo(1.074246, 6),
      expect.closeTo(1.0970896, 6),
      expect.closeTo(1.1257997, 6),
    ]);
    expectMatchesReference(xs, "adam", h, DS);
  });

  it("uses the given hyper-parameters", async () => {
    const custom = { eta: 0.05, beta1: 0.5, beta2: 0.9, tau: 0.01 };
    expectMatchesReference(await run(createStrategy("fedadam", custom), DS), "adam", custom, DS);
  });
});

describe("fedyogi", () => {
  const h = { eta: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 };
  const ds = [...DS, 0.01];

  it("follows Yogi's sign-controlled second moment, without bias correction", async () => {
    const xs = await run(createStrategy("fedyogi"), ds);
    // Coordinate 0, by hand (η = 0.01, τ = 0.001):
    // r1: m = 0.05,  v = 0 − 0.01·0.25·sign(0 − 0.25) = 0.0025,               x = 1 + 0.01·0.05/0.051 = 1.0098039
    // r2: m = 0.02,  v = 0.0025 + 0.01·0.0625 = 0.003125 (v < Δ²),             x += 0.01·0.02/(√0.003125 + 0.001) = 1.0133188
    // r3: m = 0.028, v = 0.003125 + 0.0001 = 0.003225 (v < Δ² = 0.01),         x = 1.0181640
    // r4: m = 0.0262, v = 0.003225 − 0.000001 = 0.003224 (v > Δ² = 0.0001),   x = 1.0226984
    expect(xs.map((x) => x[0][0])).toEqual([
      expect.closeTo(1.0098039, 6),
      expect.closeTo(1.0133188, 6),
      expect.closeTo(1.018164, 6),
      expect.closeTo(1.0226984, 6),
    ]);
    expectMatchesReference(xs, "yogi", h, ds);
  });
});

describe("fedadagrad", () => {
  const h = { eta: 0.1, beta1: 0, beta2: 0, tau: 1e-9 };

  it("follows Adagrad: m = Δ, v accumulates Δ²", async () => {
    const xs = await run(createStrategy("fedadagrad"), DS);
    // Coordinate 0: r1: v = 0.25,   x = 1 + 0.1·0.5/0.5 = 1.1
    //               r2: v = 0.3125, x = 1.1 − 0.1·0.25/√0.3125 = 1.0552786
    //               r3: v = 0.3225, x = 1.0552786 + 0.1·0.1/√0.3225 = 1.0728877
    expect(xs.map((x) => x[0][0])).toEqual([expect.closeTo(1.1, 6), expect.closeTo(1.0552786, 6), expect.closeTo(1.0728877, 6)]);
    expectMatchesReference(xs, "adagrad", h, DS);
  });

  it("rejects the Adam-only options", () => {
    expect(() => createStrategy("fedadagrad", { beta1: 0.9 })).toThrow(/Unknown option "beta1".*eta.*tau/);
  });
});

describe("server optimizers", () => {
  it.each(["fedadam", "fedyogi", "fedadagrad"])("%s gives the same numbers through beginRound/add/finish", async (name) => {
    const a = createStrategy(name);
    const b = createStrategy(name);
    let ca = model(X0);
    let cb = model(X0);
    for (const d of DS) {
      const target = add(flatten(ca), S, d);
      const results = [fit(add(target, E, 3), 1), fit(add(target, E, -1), 3)];
      ca = await a.aggregate(ca, results);
      const round = b.beginRound(cb);
      for (const r of results) round.add(r);
      cb = round.finish();
      expect(flatten(cb)).toEqual(flatten(ca));
    }
  });

  it.each(["fedadam", "fedyogi", "fedadagrad"])("%s does not count a failed round", async (name) => {
    const a = createStrategy(name);
    const b = createStrategy(name);
    await expect(a.aggregate(model(X0), [])).rejects.toThrow(/no results/);
    const results = [fit(add(X0, S, 0.5), 1)];
    expect(flatten(await a.aggregate(model(X0), results))).toEqual(flatten(await b.aggregate(model(X0), results)));
  });
});
