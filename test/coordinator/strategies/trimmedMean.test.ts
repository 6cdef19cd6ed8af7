import { describe, expect, it } from "vitest";
import { createStrategy } from "../../../coordinator/strategies/createStrategy.js";
import { C1, C2, C3, C4, constant, expectClose, fit } from "./helpers.js";

const C5 = [0, 1, 1, 1, 1, 1, 1, 1, 1, 1];
const five = () => [fit(C1, 1), fit(C2, 50), fit(C3, 3), fit(C4, 7), fit(C5, 2)];

describe("fedtrimmedavg", () => {
  it("cuts ⌊0.2·5⌋ = 1 value at each end by default and averages the rest, unweighted", async () => {
    const s = createStrategy("fedtrimmedavg");
    expect(s.streaming).toBe(false);
    // e.g. coordinate 2: −3, −2, −1, 1, 10 → (−2 − 1 + 1)/3; coordinate 8: 0, 1, 1, 50, 100 → 52/3
    const next = await s.aggregate(constant(0), five());
    expectClose(next, [2, 2, -2 / 3, 1 / 3, 11 / 3, 7 / 3, 2 / 3, 0.75, 52 / 3, -1]);
  });

  it("cuts ⌊0.4·5⌋ = 2 at each end: the median", async () => {
    const next = await createStrategy("fedtrimmedavg", { beta: 0.4 }).aggregate(constant(0), five());
    expectClose(next, [2, 2, -1, 0, 5, 2, 1, 0.75, 1, -1], 0);
  });

  it("cuts nothing when ⌊β·n⌋ = 0: the plain (unweighted) mean", async () => {
    const next = await createStrategy("fedtrimmedavg", { beta: 0.1 }).aggregate(constant(0), five());
    expectClose(next, [2, 3, 1, 0.2, 2.4, 3.2, 0.4, 0.7, 30.4, -1]);
  });

  it("accepts β in [0, 0.5) only", () => {
    expect(() => createStrategy("fedtrimmedavg", { beta: 0.5 })).toThrow("Option beta of strategy fedtrimmedavg must be a number in [0, 0.5), got 0.5");
    expect(() => createStrategy("fedtrimmedavg", { beta: -0.1 })).toThrow(/in \[0, 0.5\)/);
  });

  it("gives the same numbers through beginRound/add/finish", async () => {
    const round = createStrategy("fedtrimmedavg").beginRound(constant(0));
    for (const r of five()) round.add(r);
    expect(round.finish()).toEqual(await createStrategy("fedtrimmedavg").aggregate(constant(0), five()));
  });
});
