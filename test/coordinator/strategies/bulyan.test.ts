import { describe, expect, it } from "vitest";
import { createStrategy } from "../../../coordinator/strategies/createStrategy.js";
import type { FitResult } from "../../../coordinator/strategies/strategy.js";
import { UserError } from "../../../shared/errors.js";
import { add, constant, expectClose, fit } from "./helpers.js";

/** The honest clients share a per-coordinate pattern P and differ by a constant h: H = P + h. */
const P = [1, 2, 3, -1, 0, 1, 0.5, -0.5, 2, 1];
const ONES = new Array<number>(10).fill(1);
const honest = (h: number, n: number) => fit(add(P, ONES, h), n);

/**
 * n = 7, f = 1: θ = 5 picks, then the β = 3 values closest to the median. Outliers O1 = +50, O2 = −50 come first.
 * With h = 0, 0.5, −0.5, 1, −2 (squared distance between honest a, b = 10·(hₐ − h_b)²), Krum picks
 *   of 7 (4 nearest): H(0)      score 10·(0.25 + 0.25 + 1 + 4) = 55
 *   of 6 (3 nearest): H(−0.5)   score 10·(1 + 2.25 + 2.25) = 55
 *   of 5 (2 nearest): H(0.5)    score 10·(0.25 + 6.25) = 65
 *   of 4 (1 nearest): H(1)      score 90, tied with H(−2), which comes later
 *   of 3 (1 nearest): O2        H(−2) = P − 2 is nearer O2 (Σ(P − 2) < 0), so H(−2) and O2 tie and O2 comes first.
 * Each coordinate then holds P + {0, −0.5, 0.5, 1} and −50: the median is P, the 3 closest are P − 0.5, P, P + 0.5 → P.
 */
function clients(): FitResult[] {
  return [fit(new Array(10).fill(50), 1), fit(new Array(10).fill(-50), 1), honest(0, 2), honest(0.5, 3), honest(-0.5, 4), honest(1, 5), honest(-2, 6)];
}

describe("bulyan", () => {
  it("discards the outliers: Krum selection, then the mean of the β values closest to the median", async () => {
    const s = createStrategy("bulyan", { numMalicious: 1 });
    expect(s.streaming).toBe(false);
    const next = await s.aggregate(constant(0), clients());
    expectClose(next, P, 0);
  });

  it("does not depend on where the outliers arrive", async () => {
    const [o1, o2, ...rest] = clients();
    const next = await createStrategy("bulyan", { numMalicious: 1 }).aggregate(constant(0), [...rest, o1, o2]);
    expectClose(next, P, 0);
  });

  it("with f = 0 keeps everyone: the unweighted mean", async () => {
    const next = await createStrategy("bulyan").aggregate(constant(0), [honest(0, 1), honest(1, 10), honest(-4, 100)]);
    expectClose(next, add(P, ONES, -1), 0);
  });

  it("needs n ≥ 4f + 3 results", async () => {
    const six = clients().slice(0, 6);
    const s = createStrategy("bulyan", { numMalicious: 1 });
    await expect(s.aggregate(constant(0), six)).rejects.toThrow(UserError);
    await expect(s.aggregate(constant(0), six)).rejects.toThrow(/needs at least 4·1\+3 = 7 results per round, got 6/);
    await expect(createStrategy("bulyan", { numMalicious: 2 }).aggregate(constant(0), clients())).rejects.toThrow(/= 11 results/);
  });

  it("gives the same numbers through beginRound/add/finish", async () => {
    const round = createStrategy("bulyan", { numMalicious: 1 }).beginRound(constant(0));
    for (const r of clients()) round.add(r);
    expect(round.count).toBe(7);
    expect(round.finish()).toEqual(await createStrategy("bulyan", { numMalicious: 1 }).aggregate(constant(0), clients()));
  });
});
