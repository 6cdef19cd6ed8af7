import { describe, expect, it } from "vitest";
import { createStrategy } from "../../../coordinator/strategies/createStrategy.js";
import { Random } from "../../../shared/random.js";
import { C1, C2, C3, C4, constant, expectClose, fit, flatten } from "./helpers.js";

describe("fedmedian", () => {
  it("takes the coordinate-wise median, ignoring example counts", async () => {
    const s = createStrategy("fedmedian");
    expect(s.streaming).toBe(false);
    const next = await s.aggregate(constant(0), [fit(C1, 1000), fit(C2, 1), fit(C3, 7)]);
    expectClose(next, [2, 3, -2, 0, 5, 4, 0, 0.5, 50, -2], 0);
  });

  it("averages the two middle values for an even count", async () => {
    const next = await createStrategy("fedmedian").aggregate(constant(0), [fit(C1, 1), fit(C2, 2), fit(C3, 3), fit(C4, 4)]);
    expectClose(next, [2.5, 2.5, -1.5, 0, 5, 3, 0.5, 0.625, 25.5, -1.5], 0);
  });

  it.each([30, 31])("matches a plain sort-based median with %i clients", async (n) => {
    const rng = new Random(n);
    const results = Array.from({ length: n }, () => fit(Array.from({ length: 10 }, () => rng.normal()), 1));
    const next = flatten(await createStrategy("fedmedian").aggregate(constant(0), results));
    const expected = Array.from({ length: 10 }, (_, k) => {
      const column = results.map((r) => flatten(r.weights)[k]).sort((a, b) => a - b);
      const h = Math.floor(n / 2);
      return Math.fround(n % 2 === 1 ? column[h] : (column[h - 1] + column[h]) / 2);
    });
    expect(next).toEqual(expected);
  });

  it("gives the same numbers through beginRound/add/finish", async () => {
    const round = createStrategy("fedmedian").beginRound(constant(0));
    for (const c of [C1, C2, C3, C4]) round.add(fit(c, 1));
    expect(round.count).toBe(4);
    expect(round.finish()).toEqual(
      await createStrategy("fedmedian").aggregate(constant(0), [fit(C1, 1), fit(C2, 1), fit(C3, 1), fit(C4, 1)]),
    );
  });
});
